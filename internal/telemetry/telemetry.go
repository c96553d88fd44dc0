// Package telemetry is Kiln's OpenTelemetry instrumentation: producer spans
// at enqueue with the W3C trace context stored in each job's metadata,
// consumer spans around attempts, optional spans around the engine's store
// calls, and metrics. It uses only the OpenTelemetry API: the application
// chooses the SDK and exporters.
//
// The engine packages never import it: the client hands them hooks made
// here (see Attempt, StoreCall), which are nil or return nil when there is
// nothing to record, so that a process without a tracer provider spends
// neither spans nor allocations on tracing.
package telemetry

import (
	"reflect"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of Kiln's spans and metrics.
const ScopeName = "github.com/kilnjobs/kiln"

// Metadata keys of the W3C trace context of the enqueue that made a job:
// the propagation fields (traceparent, tracestate) prefixed with "kiln.".
const (
	MetadataTraceParent = "kiln.traceparent"
	MetadataTraceState  = "kiln.tracestate"
)

// Style is how an attempt's span relates to the span of the enqueue that
// made its job.
type Style string

// Styles (Ruby ActiveJob's propagation_style).
const (
	StyleChild Style = "child" // the attempt's span is a child of the enqueue's: one trace
	StyleLink  Style = "link"  // the attempt's span starts a trace of its own, linked to the enqueue's
	StyleNone  Style = "none"  // the attempt's span starts a trace of its own, unrelated
)

// Config configures a Telemetry.
type Config struct {
	// TracerProvider; nil means the global one, read at each use.
	TracerProvider trace.TracerProvider
	// MeterProvider; nil means the global one.
	MeterProvider metric.MeterProvider
	Style         Style
	// RunTimeBuckets are the bucket bounds, in seconds, of the duration
	// histograms.
	RunTimeBuckets []float64
}

// Telemetry makes a client's spans and records its metrics. It is safe for
// concurrent use.
type Telemetry struct {
	tp    trace.TracerProvider // nil: the global provider
	fixed trace.Tracer         // the tracer of tp; nil when tp is nil or a no-op
	style Style

	global atomic.Pointer[globalTracer] // the tracer of the global provider last seen

	meter                   metric.Meter
	jobDuration, queueTime  metric.Float64Histogram
	queueJobs, queuePaused  metric.Int64ObservableGauge
	queueLatency            metric.Float64ObservableGauge
	durationAttrs, waitAttr attrCache
}

// globalTracer is a tracer of a global provider.
type globalTracer struct {
	tp     trace.TracerProvider
	tracer trace.Tracer
}

// unsetProvider is the global tracer provider as it is before
// otel.SetTracerProvider: a delegate that makes no spans. While it is the
// global provider, a Telemetry without a provider of its own is off.
var unsetProvider = otel.GetTracerProvider()

// New returns a Telemetry for cfg.
func New(cfg Config) (*Telemetry, error) {
	t := &Telemetry{tp: cfg.TracerProvider, style: cfg.Style}
	if t.style == "" {
		t.style = StyleChild
	}
	switch cfg.TracerProvider.(type) {
	case nil, tracenoop.TracerProvider, *tracenoop.TracerProvider:
	default:
		t.fixed = cfg.TracerProvider.Tracer(ScopeName)
	}
	mp := cfg.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if err := t.newInstruments(mp, cfg.RunTimeBuckets); err != nil {
		return nil, err
	}
	return t, nil
}

// tracer returns the tracer to make spans with, or nil when tracing is off:
// no provider was given and none was set globally, or the one given is a
// no-op. It does not allocate.
func (t *Telemetry) tracer() trace.Tracer {
	if t.tp != nil {
		return t.fixed
	}
	tp := otel.GetTracerProvider()
	if tp == unsetProvider {
		return nil
	}
	if g := t.global.Load(); g != nil && reflect.TypeOf(tp).Comparable() && g.tp == tp {
		return g.tracer
	}
	g := &globalTracer{tp: tp, tracer: tp.Tracer(ScopeName)}
	t.global.Store(g)
	return g.tracer
}

// Tracing reports whether spans are being made now.
func (t *Telemetry) Tracing() bool { return t.tracer() != nil }

// Attribute keys of Kiln's own span and metric attributes.
const (
	KeyKind     = attribute.Key("kiln.job.kind")
	KeyAttempt  = attribute.Key("kiln.job.attempt")
	KeyPriority = attribute.Key("kiln.job.priority")
	KeyOutcome  = attribute.Key("kiln.job.outcome")
	KeyState    = attribute.Key("kiln.job.state")
	KeyUnique   = attribute.Key("kiln.job.unique_skipped")
	KeyQueue    = semconv.MessagingDestinationNameKey
)

// systemKiln is messaging.system on every span.
var systemKiln = semconv.MessagingSystemKey.String("kiln")
