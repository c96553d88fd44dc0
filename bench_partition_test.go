package kiln_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
)

// keyedNoopWorker completes noopArgs jobs at once, with a per-key cap.
type keyedNoopWorker struct {
	kiln.WorkerDefaults[noopArgs]
	limit int
}

func (w keyedNoopWorker) PartitionMaxConcurrency() int { return w.limit }

func (keyedNoopWorker) Work(context.Context, *kiln.Job[noopArgs]) error { return nil }

// BenchmarkBurnDownPartitionLimit is BenchmarkBurnDown with the jobs
// spread over 1,000 partition keys and a per-key limit of 1
// (PartitionMaxConcurrency): every claim goes through the rotation over
// keys (store.ClaimPartitioned). Divide its jobs/s by BenchmarkBurnDown's,
// run in turn, for the cost of the limit (issue #13 asks >= 0.9).
func BenchmarkBurnDownPartitionLimit(b *testing.B) {
	burnDownKeyed(b, keyedNoopWorker{limit: 1})
}

// keyRatedNoopWorker completes noopArgs jobs at once, under the per-key
// rate limit rate.
type keyRatedNoopWorker struct {
	kiln.WorkerDefaults[noopArgs]
	rate kiln.RateLimit
}

func (keyRatedNoopWorker) Work(context.Context, *kiln.Job[noopArgs]) error { return nil }
func (w keyRatedNoopWorker) PartitionRateLimit() kiln.RateLimit            { return w.rate }

// BenchmarkBurnDownRateLimitedPerKey is BenchmarkBurnDownRateLimited with
// the jobs spread over 1,000 partition keys and the limit per key
// (WorkerWithPartitionRateLimit), high enough never to bind: every claim
// goes through the rotation over keys and reads and writes the budgets of
// the keys it takes. Divide its jobs/s by BenchmarkBurnDownRateLimited's
// and BenchmarkBurnDown's, run in turn.
func BenchmarkBurnDownRateLimitedPerKey(b *testing.B) {
	burnDownKeyed(b, keyRatedNoopWorker{rate: kiln.RateLimit{Limit: 10_000_000, Period: time.Second, Burst: 1_000_000}})
}

// BenchmarkBurnDownPartitionLimitRuns is BenchmarkBurnDownPartitionLimit
// with each key's jobs enqueued in runs of 20 in a row (a tenant that
// enqueues a batch at a time) instead of round robin: under a limit of 1
// a key is at its limit after the first job of its run.
func BenchmarkBurnDownPartitionLimitRuns(b *testing.B) {
	burnDownKeyedBy(b, keyedNoopWorker{limit: 1}, func(j int) string { return strconv.Itoa(j / 20 % 1000) })
}

// BenchmarkBurnDownPartitionLimitHot is BenchmarkBurnDownPartitionLimit
// with 100 jobs of one more key enqueued first: under a limit of 1 they
// run one at a time, while the others' jobs are claimed past them.
func BenchmarkBurnDownPartitionLimitHot(b *testing.B) {
	burnDownKeyedBy(b, keyedNoopWorker{limit: 1}, func(j int) string {
		if j < 100 {
			return "hot"
		}
		return strconv.Itoa(j % 1000)
	})
}

// burnDownKeyed runs the burn-down of b.N jobs of w spread over 1,000
// partition keys, on SQLite with benchWorkers workers.
func burnDownKeyed(b *testing.B, w kiln.Worker[noopArgs]) {
	burnDownKeyedBy(b, w, func(j int) string { return strconv.Itoa(j % 1000) })
}

// burnDownKeyedBy is burnDownKeyed with the j-th job's key keyOf(j).
func burnDownKeyedBy(b *testing.B, w kiln.Worker[noopArgs], keyOf func(j int) string) {
	st := openStore(&testing.T{}, b.TempDir()+"/kiln.db")
	defer st.Close()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	cfg := &kiln.Config{Store: st, Workers: workers, Queues: map[string]kiln.QueueConfig{"default": {MaxWorkers: benchWorkers}},
		Logger: quietLogger}
	c, err := kiln.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	params := make([]kiln.EnqueueParams, 0, 1000)
	enqueueStart, enqueueCPU := time.Now(), processCPU()
	for i := 0; i < b.N; i += 1000 {
		params = params[:0]
		for j := i; j < min(i+1000, b.N); j++ {
			params = append(params, kiln.EnqueueParams{Args: noopArgs{}, Opts: &kiln.EnqueueOpts{Partition: keyOf(j)}})
		}
		if _, err := c.EnqueueMany(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
	enqueueTime, enqueueCPU := time.Since(enqueueStart), processCPU()-enqueueCPU
	events, unsub := c.Subscribe(kiln.EventJobCompleted)
	defer unsub()
	done := make(chan struct{})
	go func() {
		for n := 0; n < b.N; n++ {
			<-events
		}
		close(done)
	}()
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	<-done
	elapsed, cpu := time.Since(start), processCPU()-cpu
	b.StopTimer()
	c.Stop(ctx)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/job")
	b.ReportMetric(float64(enqueueTime.Microseconds())/float64(b.N), "enqueue-µs/job")
	b.ReportMetric(float64(enqueueCPU.Microseconds())/float64(b.N), "enqueue-cpu-µs/job")
}
