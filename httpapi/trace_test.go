package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/kilntype"
)

// TestTraceparentHonoured: an enqueue through the API continues the trace
// of the request's traceparent header. A server that traces makes its
// send span a child of the caller's span and stores the send span's
// context in the job; one that does not stores the caller's context as it
// came, so that the job's attempts still continue the caller's trace. A
// malformed header is ignored.
func TestTraceparentHonoured(t *testing.T) {
	t.Parallel()
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		spanID  = "00f067aa0ba902b7"
		header  = "00-" + traceID + "-" + spanID + "-01"
	)
	for _, traced := range []bool{false, true} {
		st := clienttest.OpenStore(t)
		cfg := &kiln.Config{Store: st, Logger: slog.New(slog.DiscardHandler)}
		exp := tracetest.NewInMemoryExporter()
		if traced {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			cfg.TracerProvider = tp
		}
		client, err := kiln.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := New(client, &Options{Logger: slog.New(slog.DiscardHandler)})
		post := func(path, body, traceparent string) []*kilntype.JobRow {
			t.Helper()
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("traceparent", traceparent)
			req.Header.Set("tracestate", "vendor=1")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			checkAgainstDoc(t, "POST", path, body, "application/json", rec)
			if rec.Code != http.StatusCreated {
				t.Fatalf("POST %s: status %d: %s", path, rec.Code, rec.Body)
			}
			var one enqueueResult
			var many struct{ Results []enqueueResult }
			if path == "/jobs" {
				err = json.Unmarshal(rec.Body.Bytes(), &one)
				many.Results = append(many.Results, one)
			} else {
				err = json.Unmarshal(rec.Body.Bytes(), &many)
			}
			if err != nil {
				t.Fatal(err)
			}
			var jobs []*kilntype.JobRow
			for _, r := range many.Results {
				jobs = append(jobs, r.Job)
			}
			return jobs
		}

		for _, path := range []string{"/jobs", "/jobs/batch"} {
			body := `{"kind":"echo"}`
			if path == "/jobs/batch" {
				body = `{"jobs":[{"kind":"echo"},{"kind":"echo"}]}`
			}
			exp.Reset()
			for _, job := range post(path, body, header) {
				tp, _ := job.MetadataValue(kiln.MetadataTraceParent)
				ts, _ := job.MetadataValue(kiln.MetadataTraceState)
				if !traced {
					if tp != header || ts != "vendor=1" {
						t.Errorf("untraced server, %s: job traceparent %q, tracestate %q; want the header's", path, tp, ts)
					}
					continue
				}
				if !strings.HasPrefix(tp, "00-"+traceID+"-") || strings.Contains(tp, spanID) {
					t.Errorf("traced server, %s: job traceparent %q, want the caller's trace and a span of the server's", path, tp)
				}
			}
			if traced {
				sends := exp.GetSpans()
				var parent trace.SpanContext
				for _, s := range sends {
					if strings.HasPrefix(s.Name, "send") {
						parent = s.Parent
					}
				}
				if parent.TraceID().String() != traceID || parent.SpanID().String() != spanID || !parent.IsRemote() {
					t.Errorf("traced server, %s: send span's parent %v, want the caller's span %s", path, parent, spanID)
				}
			}
		}
		if job := post("/jobs", `{"kind":"echo"}`, "00-bad")[0]; strings.Contains(string(job.Metadata), "traceparent") && !traced {
			t.Errorf("a malformed traceparent was stored: %s", job.Metadata)
		}
	}
}
