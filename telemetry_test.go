package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

type traceArgs struct {
	Fail  bool `json:"fail"`
	Panic bool `json:"panic"`
}

func (traceArgs) Kind() string { return "trace" }

// newTracer returns a tracer provider that keeps every ended span in
// memory (the SDK's in-memory exporter, synchronously), shut down when the
// test ends.
func newTracer(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, exp
}

// spanNamed returns the ended spans of exp named name.
func spansNamed(exp *tracetest.InMemoryExporter, name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// waitSpan polls exp until a span named name has ended (the attempt's span
// ends after the outcome is known, around the event).
func waitSpan(t *testing.T, exp *tracetest.InMemoryExporter, name string) tracetest.SpanStub {
	t.Helper()
	var spans tracetest.SpanStubs
	testutil.EventuallyNil(t, "a span "+name, func() error {
		if spans = spansNamed(exp, name); len(spans) == 0 {
			return fmt.Errorf("spans: %v", exp.GetSpans())
		}
		return nil
	})
	return spans[0]
}

func attrOf(attrs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, a := range attrs {
		if string(a.Key) == key {
			return a.Value, true
		}
	}
	return attribute.Value{}, false
}

func wantAttr(t *testing.T, span tracetest.SpanStub, key, want string) {
	t.Helper()
	v, ok := attrOf(span.Attributes, key)
	if !ok || v.String() != want {
		t.Errorf("span %q: %s = %q (set %v), want %q", span.Name, key, v.String(), ok, want)
	}
}

// TestTraceAcrossProcesses: a trace started before Enqueue in one client
// (its own tracer provider and store connection) continues in the attempt
// of another client sharing the database, as TraceStyle says: the
// attempt's span is a child of the enqueue's span, or linked to it, or
// unrelated.
func TestTraceAcrossProcesses(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) (a, b store.Store){
		"SQLite": func(t *testing.T) (store.Store, store.Store) {
			path := filepath.Join(t.TempDir(), "kiln.db")
			return openStore(t, path), openStore(t, path)
		},
		"PostgreSQL": func(t *testing.T) (store.Store, store.Store) {
			url, schema := pgtest.URL(t), pgtest.Schema(t)
			return openPostgres(t, url, schema, true), openPostgres(t, url, schema, false)
		},
	}
	for name, open := range stores {
		for _, style := range []kiln.TraceStyle{"", kiln.TraceLink, kiln.TraceNone} {
			t.Run(name+"/"+string(style), func(t *testing.T) {
				t.Parallel()
				stA, stB := open(t)
				tpA, expA := newTracer(t)
				tpB, expB := newTracer(t)
				producer, err := kiln.NewClient(&kiln.Config{Store: stA, TracerProvider: tpA})
				if err != nil {
					t.Fatal(err)
				}
				workers := kiln.NewWorkers()
				kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[traceArgs]) error { return nil }))
				cfg := fastConfig(nil, workers, nil)
				cfg.Store, cfg.TracerProvider, cfg.TraceStyle = stB, tpB, style
				consumer := startClient(t, cfg)
				events, unsub := consumer.Subscribe(kiln.EventJobCompleted)
				defer unsub()

				ctx, request := tpA.Tracer("test").Start(context.Background(), "request")
				res, err := producer.Enqueue(ctx, traceArgs{}, nil)
				request.End()
				if err != nil {
					t.Fatal(err)
				}
				waitEvent(t, events, kiln.EventJobCompleted, res.Job.ID)
				process := waitSpan(t, expB, "process default")

				send := waitSpan(t, expA, "send default")
				if send.SpanKind != trace.SpanKindProducer || send.Parent.SpanID() != request.SpanContext().SpanID() {
					t.Errorf("send span: kind %v, parent %v; want a producer span, child of the request", send.SpanKind, send.Parent)
				}
				wantAttr(t, send, "messaging.system", "kiln")
				wantAttr(t, send, "messaging.destination.name", "default")
				wantAttr(t, send, "messaging.message.id", itoa(res.Job.ID))
				if tp, _ := res.Job.MetadataValue(kiln.MetadataTraceParent); !strings.Contains(tp, send.SpanContext.SpanID().String()) {
					t.Errorf("job metadata traceparent %q does not name the send span %s", tp, send.SpanContext.SpanID())
				}

				if process.SpanKind != trace.SpanKindConsumer {
					t.Errorf("process span kind %v, want consumer", process.SpanKind)
				}
				for key, want := range map[string]string{
					"messaging.system": "kiln", "messaging.operation.type": "process", "messaging.destination.name": "default",
					"messaging.message.id": itoa(res.Job.ID), "kiln.job.kind": "trace", "kiln.job.attempt": "1",
					"kiln.job.priority": "1", "kiln.job.outcome": "succeeded",
				} {
					wantAttr(t, process, key, want)
				}
				linked := slices.ContainsFunc(process.Links, func(l sdktrace.Link) bool { return l.SpanContext.Equal(send.SpanContext.WithRemote(true)) })
				switch style {
				case "":
					if !process.Parent.Equal(send.SpanContext.WithRemote(true)) || process.SpanContext.TraceID() != request.SpanContext().TraceID() {
						t.Errorf("process span: parent %v, trace %v; want the send span %v, in the request's trace",
							process.Parent, process.SpanContext.TraceID(), send.SpanContext)
					}
				case kiln.TraceLink:
					if process.Parent.IsValid() || !linked {
						t.Errorf("process span: parent %v, links %v; want a root linked to the send span %v", process.Parent, process.Links, send.SpanContext)
					}
				case kiln.TraceNone:
					if process.Parent.IsValid() || len(process.Links) != 0 || process.SpanContext.TraceID() == request.SpanContext().TraceID() {
						t.Errorf("process span: parent %v, links %v; want an unrelated root", process.Parent, process.Links)
					}
				}
			})
		}
	}
}

func itoa(n int64) string { return attribute.Int64Value(n).String() }

// TestTraceEnqueueMany: a batch enqueue makes one send span linked to a
// create span per job, and each job continues its own create span.
func TestTraceEnqueueMany(t *testing.T) {
	t.Parallel()
	tp, exp := newTracer(t)
	c, err := kiln.NewClient(&kiln.Config{Store: openStore(t, ""), TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.EnqueueMany(context.Background(), []kiln.EnqueueParams{
		{Args: traceArgs{}}, {Args: traceArgs{}, Opts: &kiln.EnqueueOpts{Queue: "other"}}, {Args: traceArgs{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sends := spansNamed(exp, "send")
	if len(sends) != 1 {
		t.Fatalf("%d send spans (of queues default and other), want 1: %v", len(sends), exp.GetSpans())
	}
	send := sends[0]
	wantAttr(t, send, "messaging.batch.message_count", "3")
	if len(send.Links) != 3 {
		t.Fatalf("send span has %d links, want 3", len(send.Links))
	}
	for i, r := range res {
		create := spansNamed(exp, "create "+r.Job.Queue)
		i := slices.IndexFunc(create, func(s tracetest.SpanStub) bool { return s.SpanContext.Equal(send.Links[i].SpanContext) })
		if i < 0 {
			t.Fatalf("job %d: no create span linked from the send span", r.Job.ID)
		}
		span := create[i]
		wantAttr(t, span, "messaging.message.id", itoa(r.Job.ID))
		if span.SpanKind != trace.SpanKindProducer || span.Parent.SpanID() != send.SpanContext.SpanID() {
			t.Errorf("create span of job %d: kind %v, parent %v; want a producer, child of the send span", r.Job.ID, span.SpanKind, span.Parent)
		}
		if tp, _ := r.Job.MetadataValue(kiln.MetadataTraceParent); !strings.Contains(tp, span.SpanContext.SpanID().String()) {
			t.Errorf("job %d: traceparent %q does not name its create span %s", r.Job.ID, tp, span.SpanContext.SpanID())
		}
	}
}

// TestTraceAttemptErrors: a failed attempt's span has an error status, an
// exception event and error.type; a panic's carries the stack; a custom
// creation context in the metadata is kept.
func TestTraceAttemptErrors(t *testing.T) {
	t.Parallel()
	tp, exp := newTracer(t)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[traceArgs]) error {
		if job.Args.Panic {
			panic("boom")
		}
		return kiln.JobCancel(errors.New("cancelled on purpose"))
	}))
	cfg := fastConfig(openStore(t, ""), workers, nil)
	cfg.TracerProvider, cfg.MaxAttempts = tp, 1
	c := startClient(t, cfg)
	events, unsub := c.Subscribe(kiln.EventJobDiscarded, kiln.EventJobCancelled)
	defer unsub()
	custom := "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"
	panicked, err := c.Enqueue(context.Background(), traceArgs{Panic: true},
		&kiln.EnqueueOpts{Metadata: map[string]string{kiln.MetadataTraceParent: custom}})
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, kiln.EventJobDiscarded, panicked.Job.ID)
	cancelled, err := c.Enqueue(context.Background(), traceArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, kiln.EventJobCancelled, cancelled.Job.ID)

	var spans tracetest.SpanStubs
	testutil.Eventually(t, "two process spans", func() bool {
		spans = spansNamed(exp, "process default")
		return len(spans) >= 2
	})
	for _, s := range spans {
		id, _ := attrOf(s.Attributes, "messaging.message.id")
		switch id.String() {
		case itoa(panicked.Job.ID):
			if s.Status.Code != codes.Error || s.SpanContext.TraceID().String() != custom[3:35] {
				t.Errorf("panicked attempt: status %v, trace %v; want an error, in the trace of the custom traceparent",
					s.Status, s.SpanContext.TraceID())
			}
			wantAttr(t, s, "error.type", "panic")
			wantAttr(t, s, "kiln.job.outcome", "failed")
			if len(s.Events) != 1 || s.Events[0].Name != "exception" {
				t.Fatalf("panicked attempt: events %v, want one exception", s.Events)
			}
			if st, _ := attrOf(s.Events[0].Attributes, "exception.stacktrace"); !strings.Contains(st.String(), "telemetry_test.go") {
				t.Errorf("panic's exception.stacktrace %q does not show the worker", st.String())
			}
		case itoa(cancelled.Job.ID):
			if s.Status.Code == codes.Error || len(s.Events) != 1 {
				t.Errorf("cancelled attempt: status %v, events %v; want no error status, one exception event", s.Status, s.Events)
			}
			wantAttr(t, s, "kiln.job.outcome", "cancelled")
		default:
			t.Errorf("process span of unknown job %q", id.String())
		}
	}
}

// TestTraceStoreCalls: with TraceStoreCalls, claims and outcome writes
// have spans of their own; without, none.
func TestTraceStoreCalls(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		tp, exp := newTracer(t)
		workers := kiln.NewWorkers()
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[traceArgs]) error { return nil }))
		cfg := fastConfig(openStore(t, ""), workers, nil)
		cfg.TracerProvider, cfg.TraceStoreCalls = tp, on
		c := startClient(t, cfg)
		events, unsub := c.Subscribe(kiln.EventJobCompleted)
		res, err := c.Enqueue(context.Background(), traceArgs{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitEvent(t, events, kiln.EventJobCompleted, res.Job.ID)
		unsub()
		waitSpan(t, exp, "process default")
		if !on {
			if n := len(spansNamed(exp, "kiln.claim default")) + len(spansNamed(exp, "kiln.finish")); n != 0 {
				t.Errorf("%d store call spans without TraceStoreCalls", n)
			}
			continue
		}
		finish := waitSpan(t, exp, "kiln.finish")
		wantAttr(t, finish, "messaging.batch.message_count", "1")
		claims := spansNamed(exp, "kiln.claim default")
		if !slices.ContainsFunc(claims, func(s tracetest.SpanStub) bool {
			n, _ := attrOf(s.Attributes, "messaging.batch.message_count")
			return n.AsInt64() == 1
		}) {
			t.Errorf("no claim span of one job among %d claim spans", len(claims))
		}
	}
}

// TestMetrics: attempts are measured by kind and outcome, with no job ID,
// and a started client reports the store's queue gauges.
func TestMetrics(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[traceArgs]) error {
		if job.Args.Fail {
			return errors.New("failed on purpose")
		}
		return nil
	}))
	cfg := fastConfig(openStore(t, ""), workers, nil)
	cfg.MeterProvider, cfg.MaxAttempts = mp, 1
	c := startClient(t, cfg)
	events, unsub := c.Subscribe(kiln.EventJobCompleted, kiln.EventJobDiscarded)
	defer unsub()
	for _, fail := range []bool{false, false, true} {
		res, err := c.Enqueue(context.Background(), traceArgs{Fail: fail}, nil)
		if err != nil {
			t.Fatal(err)
		}
		waitEvent(t, events, map[bool]kiln.EventKind{false: kiln.EventJobCompleted, true: kiln.EventJobDiscarded}[fail], res.Job.ID)
	}
	if _, err := c.Enqueue(context.Background(), traceArgs{}, &kiln.EnqueueOpts{Queue: "idle"}); err != nil {
		t.Fatal(err)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	duration, ok := got["kiln.job.duration"].(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("kiln.job.duration is %T, want a histogram; metrics: %v", got["kiln.job.duration"], got)
	}
	counts := map[string]uint64{}
	for _, dp := range duration.DataPoints {
		kind, _ := dp.Attributes.Value("kiln.job.kind")
		outcome, _ := dp.Attributes.Value("kiln.job.outcome")
		if dp.Attributes.Len() != 2 {
			t.Errorf("kiln.job.duration attributes %v, want kind and outcome only", dp.Attributes.ToSlice())
		}
		counts[kind.String()+"/"+outcome.String()] += dp.Count
	}
	// The event is sent once the outcome is written, after the attempt's
	// measurement: all three are in.
	if counts["trace/succeeded"] != 2 || counts["trace/failed"] != 1 {
		t.Errorf("kiln.job.duration counts %v, want trace/succeeded 2, trace/failed 1", counts)
	}
	if _, ok := got["kiln.job.queue_time"].(metricdata.Histogram[float64]); !ok {
		t.Errorf("kiln.job.queue_time is %T, want a histogram", got["kiln.job.queue_time"])
	}
	jobs, ok := got["kiln.queue.jobs"].(metricdata.Gauge[int64])
	if !ok {
		t.Fatalf("kiln.queue.jobs is %T, want a gauge", got["kiln.queue.jobs"])
	}
	depth := map[string]int64{}
	for _, dp := range jobs.DataPoints {
		q, _ := dp.Attributes.Value("messaging.destination.name")
		s, _ := dp.Attributes.Value("kiln.job.state")
		depth[q.String()+"/"+s.String()] = dp.Value
	}
	if depth["idle/available"] != 1 || depth["default/completed"] != 2 || depth["default/discarded"] != 1 {
		t.Errorf("kiln.queue.jobs %v, want idle/available 1, default/completed 2, default/discarded 1", depth)
	}
	for _, name := range []string{"kiln.queue.latency", "kiln.queue.paused"} {
		if got[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}
