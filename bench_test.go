package kiln_test

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// benchWorkers is the queue's worker count in BenchmarkBurnDown.
var benchWorkers = 200

type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

// BenchmarkBurnDown enqueues b.N no-op jobs, then measures how fast one
// client with 200 workers runs them all on SQLite. It reports jobs/s.
// Tracing is off: no tracer provider is set (docs/observability.md).
func BenchmarkBurnDown(b *testing.B) { burnDown(b, nil) }

// BenchmarkBurnDownTraced is BenchmarkBurnDown with OpenTelemetry on: an
// SDK tracer provider that samples every span and exports it, at once, to
// an exporter that drops it, and an SDK meter provider with a manual
// reader. It also reports the enqueue's cost per job (the producer spans),
// which both leave out of their timing, as enqueue-µs/job.
func BenchmarkBurnDownTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	}()
	burnDown(b, func(cfg *kiln.Config) { cfg.TracerProvider, cfg.MeterProvider = tp, mp })
}

// BenchmarkBurnDownPostgres is BenchmarkBurnDown on PostgreSQL
// ($KILN_TEST_POSTGRES_URL, a fresh schema, a pool of 4 connections; skipped
// without the variable). Its allocs/op (with -benchmem) and cpu-µs/job are
// this process's alone: the Go side's cost per job, without the
// database's, which bench/cmd/compare reports.
func BenchmarkBurnDownPostgres(b *testing.B) {
	st := openBenchPostgres(b)
	burnDown(b, func(cfg *kiln.Config) { cfg.Store = st })
}

// openBenchPostgres opens a migrated PostgreSQL store in a fresh schema of
// $KILN_TEST_POSTGRES_URL with a pool of 4 connections (skipping b without
// the variable), closed when b ends.
func openBenchPostgres(b *testing.B) *postgres.Store {
	url, schema := pgtest.URL(b), pgtest.Schema(b)
	st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema, MaxConns: 4, Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkBurnDownPool is BenchmarkBurnDown with the queue's 200 workers
// as a pool (Config.MaxWorkers) instead of the queue's own MaxWorkers: the
// cost of sharing slots through producer.Pool for a lone queue.
func BenchmarkBurnDownPool(b *testing.B) {
	burnDown(b, func(cfg *kiln.Config) {
		cfg.MaxWorkers = benchWorkers
		cfg.Queues = map[string]kiln.QueueConfig{"default": {}}
	})
}

// BenchmarkQueueWeights enqueues b.N no-op jobs into each of three queues
// of weights 6, 3 and 1 sharing a pool of 200 workers on SQLite, runs them,
// and reports the share of the starts each queue got while all three had
// jobs waiting (until the first queue's last job started) as share-6,
// share-3 and share-1 (percent), and jobs/s over that time.
func BenchmarkQueueWeights(b *testing.B) {
	st := openStore(&testing.T{}, b.TempDir()+"/kiln.db")
	defer st.Close()
	weights := map[string]int{"w6": 6, "w3": 3, "w1": 1}
	var (
		mu      sync.Mutex // guards starts and until
		starts  = map[string]int{}
		until   map[string]int // starts when the first queue ran out
		allDone = make(chan struct{})
		total   int
	)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[noopArgs]) error {
		mu.Lock()
		defer mu.Unlock()
		starts[job.Queue]++
		if until == nil && starts[job.Queue] == b.N {
			until = maps.Clone(starts)
		}
		if total++; total == 3*b.N {
			close(allDone)
		}
		return nil
	}))
	queues := map[string]kiln.QueueConfig{}
	for name, w := range weights {
		queues[name] = kiln.QueueConfig{Weight: w}
	}
	c, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, MaxWorkers: benchWorkers, Queues: queues, Logger: quietLogger})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	params := make([]kiln.EnqueueParams, 0, 1000)
	for name := range weights {
		for i := 0; i < b.N; i += 1000 {
			params = params[:0]
			for j := i; j < min(i+1000, b.N); j++ {
				params = append(params, kiln.EnqueueParams{Args: noopArgs{}, Opts: &kiln.EnqueueOpts{Queue: name}})
			}
			if _, err := c.EnqueueMany(ctx, params); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	start := time.Now()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	<-allDone
	elapsed := time.Since(start)
	b.StopTimer()
	c.Stop(ctx)
	mu.Lock()
	defer mu.Unlock()
	saturated := 0
	for _, n := range until {
		saturated += n
	}
	for name, w := range weights {
		b.ReportMetric(100*float64(until[name])/float64(saturated), fmt.Sprintf("share-%d", w))
	}
	b.ReportMetric(float64(3*b.N)/elapsed.Seconds(), "jobs/s")
}

// BenchmarkBurnDownRateLimited is BenchmarkBurnDown with the kind rate
// limited (kiln.RateLimiter) high enough never to bind: 10,000,000 jobs
// per second with a burst of 1,000,000. Every claim then pays for the
// limit (it reads and writes the kind's budget) without waiting for it;
// its jobs/s ÷ BenchmarkBurnDown's is the cost of a rate limit.
func BenchmarkBurnDownRateLimited(b *testing.B) {
	burnDownWith(b, noopRatedWorker{rate: kiln.RateLimit{Limit: 10_000_000, Period: time.Second, Burst: 1_000_000}}, nil)
}

// noopRatedWorker completes its jobs at once, under the rate limit rate.
type noopRatedWorker struct {
	kiln.WorkerDefaults[noopArgs]
	rate kiln.RateLimit
}

func (noopRatedWorker) Work(context.Context, *kiln.Job[noopArgs]) error { return nil }
func (w noopRatedWorker) RateLimit() kiln.RateLimit                     { return w.rate }

func burnDown(b *testing.B, configure func(*kiln.Config)) {
	burnDownWith(b, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[noopArgs]) error { return nil }), configure)
}

func burnDownWith(b *testing.B, w kiln.Worker[noopArgs], configure func(*kiln.Config)) {
	burnDownArgs(b, w, func(int) noopArgs { return noopArgs{} }, nil, configure)
}

// numberArgs are args of one number, {"n": i}, as bench/cmd/compare's jobs
// have.
type numberArgs struct {
	N int `json:"n"`
}

func (numberArgs) Kind() string { return "number" }

// BenchmarkBurnDownPostgresArgs is BenchmarkBurnDownPostgres with args
// {"n": i} (as bench/cmd/compare's), which the worker's job decodes.
func BenchmarkBurnDownPostgresArgs(b *testing.B) {
	st := openBenchPostgres(b)
	burnDownArgs(b, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[numberArgs]) error { return nil }),
		func(i int) numberArgs { return numberArgs{N: i} }, nil, func(cfg *kiln.Config) { cfg.Store = st })
}

// numberKeyedWorker completes numberArgs jobs at once, with a per-key cap.
type numberKeyedWorker struct {
	kiln.WorkerDefaults[numberArgs]
	limit int
}

func (w numberKeyedWorker) PartitionMaxConcurrency() int { return w.limit }

func (numberKeyedWorker) Work(context.Context, *kiln.Job[numberArgs]) error { return nil }

// BenchmarkBurnDownPostgresPartitionLimit is BenchmarkBurnDownPostgresArgs
// with job i's partition key i modulo 1,000 and a per-key limit of 1
// (PartitionMaxConcurrency), as bench/cmd/compare's --kiln-partition-keys
// 1000 --kiln-partition-limit 1: this process's cost per job (allocs/op
// with -benchmem, cpu-µs/job) of claiming by key, to divide by
// BenchmarkBurnDownPostgresArgs's.
func BenchmarkBurnDownPostgresPartitionLimit(b *testing.B) {
	st := openBenchPostgres(b)
	burnDownArgs(b, kiln.Worker[numberArgs](numberKeyedWorker{limit: 1}), func(i int) numberArgs { return numberArgs{N: i} },
		func(i int) string { return strconv.Itoa(i % 1000) }, func(cfg *kiln.Config) { cfg.Store = st })
}

// burnDownArgs is burnDown with worker w and the args of job i made by args,
// and, if keyOf is not nil, its partition key keyOf(i).
func burnDownArgs[T kiln.JobArgs](b *testing.B, w kiln.Worker[T], args func(i int) T, keyOf func(i int) string,
	configure func(*kiln.Config)) {
	st := openStore(&testing.T{}, b.TempDir()+"/kiln.db")
	defer st.Close()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	cfg := &kiln.Config{Store: st, Workers: workers, Queues: map[string]kiln.QueueConfig{"default": {MaxWorkers: benchWorkers}}}
	if configure != nil {
		configure(cfg)
	}
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
			p := kiln.EnqueueParams{Args: args(j)}
			if keyOf != nil {
				p.Opts = &kiln.EnqueueOpts{Partition: keyOf(j)}
			}
			params = append(params, p)
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
	var mem0, mem1 runtime.MemStats
	runtime.ReadMemStats(&mem0)
	start, cpu, sched := time.Now(), processCPU(), readSchedCounts()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	<-done
	elapsed, cpu, sched := time.Since(start), processCPU()-cpu, readSchedCounts().sub(sched)
	runtime.ReadMemStats(&mem1)
	b.StopTimer()
	c.Stop(ctx)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/job")
	b.ReportMetric(float64(enqueueTime.Microseconds())/float64(b.N), "enqueue-µs/job")
	b.ReportMetric(float64(enqueueCPU.Microseconds())/float64(b.N), "enqueue-cpu-µs/job")
	b.ReportMetric(float64(sched.gcCycles)*1000/float64(b.N), "gc/1k-jobs")
	b.ReportMetric(float64(sched.runs)/float64(b.N), "sched-runs/job")
	b.ReportMetric(float64(sched.created)*1000/float64(b.N), "goroutines/1k-jobs")
	// allocs/op and B/op (-benchmem) to two decimals: this process's
	// allocations per job of the burn-down.
	b.ReportMetric(float64(mem1.Mallocs-mem0.Mallocs)/float64(b.N), "allocs/job")
	b.ReportMetric(float64(mem1.TotalAlloc-mem0.TotalAlloc)/float64(b.N), "B/job")
}

// schedCounts are the runtime's counts that BenchmarkBurnDown reports per
// job: GC cycles, goroutines made to run (the count of /sched/latencies,
// which the runtime samples: a relative figure, for comparing builds), and
// goroutines created.
type schedCounts struct{ gcCycles, runs, created uint64 }

func readSchedCounts() schedCounts {
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/sched/latencies:seconds"},
		{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(samples)
	var c schedCounts
	if samples[0].Value.Kind() == metrics.KindUint64 {
		c.gcCycles = samples[0].Value.Uint64()
	}
	if samples[1].Value.Kind() == metrics.KindFloat64Histogram {
		for _, n := range samples[1].Value.Float64Histogram().Counts {
			c.runs += n
		}
	}
	if samples[2].Value.Kind() == metrics.KindUint64 {
		c.created = samples[2].Value.Uint64()
	}
	return c
}

func (c schedCounts) sub(o schedCounts) schedCounts {
	return schedCounts{gcCycles: c.gcCycles - o.gcCycles, runs: c.runs - o.runs, created: c.created - o.created}
}
