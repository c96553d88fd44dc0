package kiln_test

import (
	"context"
	"log"

	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kilnjobs/kiln"
)

// Tracing with OpenTelemetry: the enqueue's span, stored with the job, is
// the parent of the span of each attempt, in whatever process runs it; the
// worker's context carries the attempt's span. This one prints the spans
// to stdout as JSON (docs/observability.md).
func ExampleConfig_tracerProvider() {
	ctx := context.Background()
	exporter, err := stdouttrace.New(stdouttrace.WithPrettyPrint())
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter))
	defer tp.Shutdown(ctx) // flushes the spans
	tracer := tp.Tracer("example")

	st, cleanup := exampleStore()
	defer cleanup()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[WelcomeArgs]) error {
		_, span := tracer.Start(ctx, "render email") // a child of the attempt's span
		defer span.End()
		return nil
	}))
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: quietLogger, TracerProvider: tp})
	if err != nil {
		log.Fatal(err)
	}
	done, unsubscribe := client.Subscribe(kiln.EventJobCompleted)
	defer unsubscribe()
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)

	// The request that enqueues: its trace continues in the job.
	reqCtx, request := tracer.Start(ctx, "POST /signup")
	if _, err := client.Enqueue(reqCtx, WelcomeArgs{Email: "ada@example.com"}, nil); err != nil {
		log.Fatal(err)
	}
	request.End()
	<-done
	// Spans: "POST /signup" > "send default" > "process default" > "render email".
}
