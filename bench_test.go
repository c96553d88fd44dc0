package kiln_test

import (
	"context"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/kilnjobs/kiln"
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

func burnDown(b *testing.B, configure func(*kiln.Config)) {
	st := openStore(&testing.T{}, b.TempDir()+"/kiln.db")
	defer st.Close()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[noopArgs]) error { return nil }))
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
	enqueueStart := time.Now()
	for i := 0; i < b.N; i += 1000 {
		params = params[:0]
		for j := i; j < min(i+1000, b.N); j++ {
			params = append(params, kiln.EnqueueParams{Args: noopArgs{}})
		}
		if _, err := c.EnqueueMany(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
	enqueueTime := time.Since(enqueueStart)
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
	b.ReportMetric(float64(enqueueTime.Microseconds())/float64(b.N), "enqueue-µs/job")
}
