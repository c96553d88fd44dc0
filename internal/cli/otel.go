package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// otelProviders are the tracer and meter providers of kiln serve --otel.
type otelProviders struct {
	tracer   trace.TracerProvider
	meter    metric.MeterProvider
	shutdown []func(context.Context) error
}

// Shutdown flushes and stops the providers' exporters.
func (p *otelProviders) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range p.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// newOTel makes the providers of kiln serve --otel, configured as the
// OpenTelemetry SDKs are, by the standard environment variables:
// OTEL_SDK_DISABLED; OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER (otlp,
// the default; console, to stdout; none); OTEL_EXPORTER_OTLP_PROTOCOL and
// its per-signal variants (http/protobuf only); and, read by the SDK and
// its exporters themselves, OTEL_SERVICE_NAME (default kiln),
// OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_ENDPOINT, _HEADERS,
// _TIMEOUT, _COMPRESSION, _CERTIFICATE and their per-signal variants,
// OTEL_TRACES_SAMPLER and its argument, OTEL_BSP_* and
// OTEL_METRIC_EXPORT_INTERVAL.
func newOTel(ctx context.Context, getenv func(string) string, stdout io.Writer) (*otelProviders, error) {
	p := &otelProviders{tracer: tracenoop.NewTracerProvider(), meter: metricnoop.NewMeterProvider()}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return p, nil
	}
	// Later detectors win: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	// over the default service name.
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName("kiln")),
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("--otel: resource: %w", err)
	}
	switch exp, err := otelExporter(getenv, "TRACES"); {
	case err != nil:
		return nil, err
	case exp == "otlp":
		e, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("--otel: OTLP trace exporter: %w", err)
		}
		p.setTracer(sdktrace.NewTracerProvider(sdktrace.WithBatcher(e), sdktrace.WithResource(res)))
	case exp == "console":
		e, err := stdouttrace.New(stdouttrace.WithWriter(stdout))
		if err != nil {
			return nil, fmt.Errorf("--otel: console trace exporter: %w", err)
		}
		p.setTracer(sdktrace.NewTracerProvider(sdktrace.WithBatcher(e), sdktrace.WithResource(res)))
	}
	switch exp, err := otelExporter(getenv, "METRICS"); {
	case err != nil:
		return nil, err
	case exp == "otlp":
		e, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("--otel: OTLP metric exporter: %w", err)
		}
		p.setMeter(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(e)), sdkmetric.WithResource(res)))
	case exp == "console":
		e, err := stdoutmetric.New(stdoutmetric.WithWriter(stdout))
		if err != nil {
			return nil, fmt.Errorf("--otel: console metric exporter: %w", err)
		}
		p.setMeter(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(e)), sdkmetric.WithResource(res)))
	}
	return p, nil
}

func (p *otelProviders) setTracer(tp *sdktrace.TracerProvider) {
	p.tracer = tp
	p.shutdown = append(p.shutdown, tp.Shutdown)
}

func (p *otelProviders) setMeter(mp *sdkmetric.MeterProvider) {
	p.meter = mp
	p.shutdown = append(p.shutdown, mp.Shutdown)
}

// otelExporter returns the exporter OTEL_<signal>_EXPORTER names: "otlp"
// (the default), "console" or "none"; for otlp, it checks that the
// protocol is http/protobuf, the only one kiln serve speaks.
func otelExporter(getenv func(string) string, signal string) (string, error) {
	name := "OTEL_" + signal + "_EXPORTER"
	exp := strings.ToLower(strings.TrimSpace(getenv(name)))
	switch exp {
	case "":
		exp = "otlp"
	case "otlp", "console", "none":
	default:
		return "", usageErrorf("--otel: %s=%q: want otlp, console or none", name, exp)
	}
	if exp != "otlp" {
		return exp, nil
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		switch proto := strings.TrimSpace(getenv(v)); proto {
		case "":
			continue
		case "http/protobuf":
			return exp, nil
		default:
			return "", usageErrorf("--otel: %s=%q: kiln serve exports OTLP over http/protobuf only (port 4318)", v, proto)
		}
	}
	return exp, nil
}
