package kiln_test

import (
	"context"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
)

// benchWorkers is the queue's worker count in BenchmarkBurnDown.
var benchWorkers = 200

type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

// BenchmarkBurnDown enqueues b.N no-op jobs, then measures how fast one
// client with 200 workers runs them all on SQLite. It reports jobs/s.
func BenchmarkBurnDown(b *testing.B) {
	st := openStore(&testing.T{}, b.TempDir()+"/kiln.db")
	defer st.Close()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[noopArgs]) error { return nil }))
	cfg := &kiln.Config{Store: st, Workers: workers, Queues: map[string]kiln.QueueConfig{"default": {MaxWorkers: benchWorkers}}}
	c, err := kiln.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	params := make([]kiln.EnqueueParams, 0, 1000)
	for i := 0; i < b.N; i += 1000 {
		params = params[:0]
		for j := i; j < min(i+1000, b.N); j++ {
			params = append(params, kiln.EnqueueParams{Args: noopArgs{}})
		}
		if _, err := c.EnqueueMany(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
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
	start := time.Now()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	c.Stop(ctx)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
}
