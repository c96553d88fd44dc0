package telemetry

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestOffAllocatesNothing: with no tracer provider (the global one unset)
// or a no-op one, and no meter provider, the hooks make no span, store no
// trace context and allocate nothing. Then a global provider set later is
// used by a Telemetry made before. Not parallel: it sets the global
// provider, once, at its end.
func TestOffAllocatesNothing(t *testing.T) {
	now := time.Now()
	row := &kilntype.JobRow{ID: 1, Kind: "k", Queue: "q", Attempt: 1, AttemptedAt: &now, ScheduledAt: now,
		Metadata: []byte(`{"kiln.traceparent":"00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"}`)}
	jobs := []*store.JobInsertParams{{Kind: "k", Queue: "q", Metadata: []byte("{}")}}
	p := &store.JobFinishParams{}
	ctx := context.Background()
	global, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for name, tel := range map[string]*Telemetry{"global unset": global, "no-op": mustNew(t, Config{TracerProvider: tracenoop.NewTracerProvider()})} {
		allocs := testing.AllocsPerRun(100, func() {
			ctx2, e := tel.StartEnqueue(ctx, jobs)
			e.End(nil, nil)
			_, end := tel.Attempt(ctx2, row)
			if end != nil {
				end(p, nil)
			}
			if _, end := tel.StoreCall(ctx, OpClaim, "q"); end != nil {
				end(0, nil)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per enqueue and attempt, want 0", name, allocs)
		}
		if string(jobs[0].Metadata) != "{}" {
			t.Errorf("%s: metadata %s, want no trace context", name, jobs[0].Metadata)
		}
	}

	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(ctx) }()
	otel.SetTracerProvider(tp)
	_, end := global.Attempt(ctx, row)
	end(p, nil)
	if spans := exp.GetSpans(); len(spans) != 1 || spans[0].Parent.TraceID().String() != "0123456789abcdef0123456789abcdef" {
		t.Fatalf("after otel.SetTracerProvider: spans %v, want one, child of the job's traceparent", spans)
	}
}

func mustNew(t *testing.T, cfg Config) *Telemetry {
	t.Helper()
	tel, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tel
}
