package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestServeOTel: kiln serve --otel exports the spans of the attempts it
// runs, and its metrics, by OTLP over HTTP to the endpoint of
// OTEL_EXPORTER_OTLP_ENDPOINT, with OTEL_SERVICE_NAME as service.name. Not
// parallel: the exporters read the process's environment.
func TestServeOTel(t *testing.T) {
	var mu sync.Mutex
	paths := map[string]int{}
	var spans, services []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		paths[r.URL.Path]++
		if r.URL.Path == "/v1/traces" {
			var req coltracepb.ExportTraceServiceRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				t.Errorf("decode traces: %v", err)
			}
			for _, rs := range req.ResourceSpans {
				for _, a := range rs.Resource.Attributes {
					if a.Key == "service.name" {
						services = append(services, a.Value.GetStringValue())
					}
				}
				for _, ss := range rs.ScopeSpans {
					for _, s := range ss.Spans {
						spans = append(spans, s.Name)
					}
				}
			}
		}
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_SERVICE_NAME", "kiln-test")

	db := newDB(t)
	hit := make(chan struct{}, 1)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hit <- struct{}{}:
		default:
		}
	}))
	defer target.Close()
	enqueueID(t, db, "http", "--args", fmt.Sprintf(`{"url":%q}`, target.URL))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan result, 1)
	go func() {
		served <- runKilnCtx(t, ctx, nil, "serve", "--database", db, "--otel", "--dashboard-addr", "off")
	}()
	<-hit
	cancel()
	if r := <-served; r.code != exitOK {
		t.Fatalf("serve --otel: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// serve flushed its exporters before it returned.
	mu.Lock()
	defer mu.Unlock()
	if paths["/v1/traces"] == 0 || paths["/v1/metrics"] == 0 {
		t.Fatalf("the collector received %v, want traces and metrics", paths)
	}
	if !strings.Contains(strings.Join(spans, ","), "process default") {
		t.Errorf("spans %v, want a process span", spans)
	}
	for _, s := range services {
		if s != "kiln-test" {
			t.Errorf("service.name %q, want OTEL_SERVICE_NAME's", s)
		}
	}
}

// TestServeOTelRefusesGRPC: the OTLP protocol serve does not speak is a
// usage error, before anything runs.
func TestServeOTelRefusesGRPC(t *testing.T) {
	t.Parallel()
	r := runKilnCtx(t, context.Background(), kilnEnv{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "serve", "--database", newDB(t), "--otel")
	wantFail(t, r, exitUsage, "http/protobuf only")
}
