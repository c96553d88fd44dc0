package kiln_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// traceChildEnv, when set to "<schema> <job ID>", turns the test binary
// into a consumer process: it runs jobs of $KILN_TEST_POSTGRES_URL's
// schema with tracing into the SDK's in-memory exporter until job ID's
// attempt span has ended, prints that span (traceSpanLine, then its JSON)
// on stdout and exits.
const traceChildEnv = "KILN_TEST_TRACE_CHILD"

// traceSpanLine starts the line on which the child prints its span.
const traceSpanLine = "KILN_TRACE_SPAN "

// childSpan is what the child reports of its attempt span.
type childSpan struct {
	Name, Kind, TraceID, SpanID, ParentTraceID, ParentSpanID string
	ParentRemote                                             bool
	JobID                                                    string
}

// runTraceChild is the child process of TestTraceAcrossOSProcesses.
func runTraceChild() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "trace child:", err)
		return 1
	}
	var schema string
	var jobID int64
	if _, err := fmt.Sscan(os.Getenv(traceChildEnv), &schema, &jobID); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // bounds a hang only
	defer cancel()
	st, err := postgres.Open(ctx, os.Getenv("KILN_TEST_POSTGRES_URL"), &postgres.Options{Schema: schema, MaxConns: 4})
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[traceArgs]) error { return nil }))
	c, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, TracerProvider: tp, FetchPollInterval: 20 * time.Millisecond})
	if err != nil {
		return fail(err)
	}
	if err := c.Start(ctx); err != nil {
		return fail(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Stop(stopCtx)
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, s := range spansNamed(exp, "process default") {
			if v, _ := attrOf(s.Attributes, "messaging.message.id"); v.AsString() != strconv.FormatInt(jobID, 10) {
				continue
			}
			b, err := json.Marshal(childSpan{
				Name: s.Name, Kind: s.SpanKind.String(), TraceID: s.SpanContext.TraceID().String(), SpanID: s.SpanContext.SpanID().String(),
				ParentTraceID: s.Parent.TraceID().String(), ParentSpanID: s.Parent.SpanID().String(), ParentRemote: s.Parent.IsRemote(),
				JobID: strconv.FormatInt(jobID, 10),
			})
			if err != nil {
				return fail(err)
			}
			fmt.Println(traceSpanLine + string(b))
			return 0
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fail(fmt.Errorf("no attempt span of job %d: %w; spans %v", jobID, ctx.Err(), exp.GetSpans()))
		}
	}
}

// TestTraceAcrossOSProcesses: a trace started before Enqueue in this
// process is the parent of the attempt span in another OS process (the
// test binary run again as a child) sharing the PostgreSQL database; the
// child reports the span its SDK's in-memory exporter received.
// TestTraceAcrossProcesses checks the styles with two clients in one
// process.
func TestTraceAcrossOSProcesses(t *testing.T) {
	t.Parallel()
	url, schema := pgtest.URL(t), pgtest.Schema(t)
	st := openPostgres(t, url, schema, true)
	tp, exp := newTracer(t)
	producer, err := kiln.NewClient(&kiln.Config{Store: st, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, request := tp.Tracer("test").Start(context.Background(), "request")
	res, err := producer.Enqueue(ctx, traceArgs{}, nil)
	request.End()
	if err != nil {
		t.Fatal(err)
	}
	send := waitSpan(t, exp, "send default")

	runCtx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // bounds a hang only
	defer cancel()
	child := exec.CommandContext(runCtx, os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", traceChildEnv, schema, res.Job.ID))
	var stderr strings.Builder
	child.Stderr = &stderr
	out, err := child.Output()
	if err != nil {
		t.Fatalf("child process: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	var span *childSpan
	for sc := bufio.NewScanner(strings.NewReader(string(out))); sc.Scan(); {
		if line, ok := strings.CutPrefix(sc.Text(), traceSpanLine); ok {
			span = new(childSpan)
			if err := json.Unmarshal([]byte(line), span); err != nil {
				t.Fatal(err)
			}
		}
	}
	if span == nil {
		t.Fatalf("the child printed no span:\n%s\nstderr:\n%s", out, stderr.String())
	}
	t.Logf("child span: %+v", *span)
	if span.Kind != trace.SpanKindConsumer.String() || span.JobID != strconv.FormatInt(res.Job.ID, 10) {
		t.Errorf("child span %+v: want a consumer span of job %d", *span, res.Job.ID)
	}
	if span.ParentSpanID != send.SpanContext.SpanID().String() || span.ParentTraceID != request.SpanContext().TraceID().String() ||
		span.TraceID != request.SpanContext().TraceID().String() || !span.ParentRemote {
		t.Errorf("child span %+v: want a child of this process's send span %s (remote), in the request's trace %s",
			*span, send.SpanContext.SpanID(), request.SpanContext().TraceID())
	}
	job, err := producer.JobGet(context.Background(), res.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if job.State != kiln.JobStateCompleted {
		t.Errorf("job %d is %s after the child ran it; want completed", job.ID, job.State)
	}
}
