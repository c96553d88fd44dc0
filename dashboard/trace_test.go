package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
	"github.com/kilnjobs/kiln/internal/clienttest"
)

// TestJobTrace checks that the job page of a job enqueued inside a trace
// shows the trace's ID, linked through Options.TraceURL when set, that a
// job enqueued without tracing shows none, and that New refuses a
// TraceURL without {trace_id}.
func TestJobTrace(t *testing.T) {
	st := clienttest.OpenStore(t)
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	traced, err := kiln.NewClient(&kiln.Config{Store: st, TracerProvider: tp, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	untraced, err := kiln.NewClient(&kiln.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}

	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	res, err := traced.Enqueue(ctx, okArgs{Text: "traced"}, nil)
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	traceID := span.SpanContext().TraceID().String()
	plain, err := untraced.Enqueue(context.Background(), okArgs{Text: "untraced"}, nil)
	if err != nil {
		t.Fatal(err)
	}

	page := func(opts *dashboard.Options, id int64) string {
		t.Helper()
		opts.AllowRemote, opts.Logger = true, slog.New(slog.DiscardHandler)
		h, err := dashboard.New(untraced, opts)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", fmt.Sprintf("/jobs/%d", id), nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET /jobs/%d: status %d\n%s", id, rec.Code, body)
		}
		return string(body)
	}
	idHTML := `<code id="job-trace-id">` + traceID + `</code>`
	linked := page(&dashboard.Options{TraceURL: "https://jaeger.example/trace/{trace_id}?x=1"}, res.Job.ID)
	if want := idHTML + ` <a id="job-trace-link" href="https://jaeger.example/trace/` + traceID + `?x=1" rel="noopener noreferrer">open the trace</a>`; !strings.Contains(linked, want) {
		t.Errorf("the traced job's page with TraceURL does not have\n%s\n%s", want, linked)
	}
	unlinked := page(&dashboard.Options{}, res.Job.ID)
	if !strings.Contains(unlinked, idHTML) || strings.Contains(unlinked, "job-trace-link") {
		t.Errorf("the traced job's page without TraceURL does not have the trace ID %s unlinked:\n%s", traceID, unlinked)
	}
	if p := page(&dashboard.Options{TraceURL: "https://jaeger.example/trace/{trace_id}"}, plain.Job.ID); strings.Contains(p, "job-trace") {
		t.Errorf("the untraced job's page shows a trace:\n%s", p)
	}

	if _, err := dashboard.New(untraced, &dashboard.Options{TraceURL: "https://jaeger.example/trace/"}); err == nil || !strings.Contains(err.Error(), "{trace_id}") {
		t.Errorf("New with a TraceURL without {trace_id}: %v; want an error naming {trace_id}", err)
	}
}
