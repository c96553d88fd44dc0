package telemetry

import (
	"context"
	"encoding/json"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kilnjobs/kiln/store"
)

// Enqueue holds the spans of one enqueue call. A nil *Enqueue does
// nothing.
type Enqueue struct {
	send   trace.Span
	create []trace.Span // one per job of a batch; nil for a single job
}

// StartEnqueue starts the spans of an enqueue of jobs (at least one) and
// stores in each job's metadata the trace context its attempts continue:
// the "send" span's for a single job; for a batch, that of the job's own
// "create" span, a child of the batch's "send" span, which links to every
// create span (OpenTelemetry's messaging conventions). A job whose metadata
// already holds MetadataTraceParent keeps it. When tracing is off it makes
// no span and, if ctx carries a span context (a caller traced by another
// provider, or a traceparent header), stores that one, so that a trace
// passes through a process that does not trace; otherwise it does nothing
// and does not allocate. It returns the context to insert under and the
// spans to end with End.
func (t *Telemetry) StartEnqueue(ctx context.Context, jobs []*store.JobInsertParams) (context.Context, *Enqueue) {
	tr := t.tracer()
	if tr == nil {
		if trace.SpanContextFromContext(ctx).IsValid() {
			for _, j := range jobs {
				inject(ctx, j)
			}
		}
		return ctx, nil
	}
	if len(jobs) == 1 {
		j := jobs[0]
		ctx, send := tr.Start(ctx, "send "+j.Queue, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
			systemKiln, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
			KeyQueue.String(j.Queue), KeyKind.String(j.Kind), KeyPriority.Int(j.Priority)))
		inject(ctx, j)
		return ctx, &Enqueue{send: send}
	}
	queue := jobs[0].Queue
	for _, j := range jobs[1:] {
		if j.Queue != queue {
			queue = ""
			break
		}
	}
	name := "send"
	attrs := []attribute.KeyValue{systemKiln, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
		semconv.MessagingBatchMessageCount(len(jobs))}
	if queue != "" {
		name += " " + queue
		attrs = append(attrs, KeyQueue.String(queue))
	}
	// The send span's context is not any job's creation context: a CLIENT
	// span, per the messaging conventions.
	ctx, send := tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	e := &Enqueue{send: send, create: make([]trace.Span, len(jobs))}
	for i, j := range jobs {
		cctx, span := tr.Start(ctx, "create "+j.Queue, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
			systemKiln, semconv.MessagingOperationTypeCreate, semconv.MessagingOperationName("create"),
			KeyQueue.String(j.Queue), KeyKind.String(j.Kind), KeyPriority.Int(j.Priority)))
		inject(cctx, j)
		send.AddLink(trace.Link{SpanContext: span.SpanContext()})
		e.create[i] = span
	}
	return ctx, e
}

// End ends the spans: results are the insert's (one per job), or err its
// failure.
func (e *Enqueue) End(results []store.JobInsertResult, err error) {
	if e == nil {
		return
	}
	if err != nil {
		e.send.RecordError(err)
		e.send.SetStatus(codes.Error, err.Error())
		e.send.SetAttributes(semconv.ErrorType(err))
	}
	if e.create == nil {
		if len(results) == 1 {
			setResult(e.send, results[0])
		}
		e.send.End()
		return
	}
	for i, span := range e.create {
		if i < len(results) {
			setResult(span, results[i])
		}
		span.End()
	}
	e.send.End()
}

// setResult sets the job's ID, as messaging.message.id, on the span of its
// enqueue, and whether an existing unique job was returned instead.
func setResult(span trace.Span, r store.JobInsertResult) {
	if r.Job == nil {
		return
	}
	span.SetAttributes(semconv.MessagingMessageID(strconv.FormatInt(r.Job.ID, 10)))
	if r.UniqueSkipped {
		span.SetAttributes(KeyUnique.Bool(true))
	}
}

// traceContext is the W3C Trace Context propagator: it writes traceparent
// and tracestate.
var traceContext = propagation.TraceContext{}

// inject stores ctx's span context in j's metadata, unless the metadata
// holds one already (a creation context the caller chose).
func inject(ctx context.Context, j *store.JobInsertParams) {
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	if len(carrier) == 0 {
		return
	}
	m := map[string]json.RawMessage{}
	if len(j.Metadata) > 0 && json.Unmarshal(j.Metadata, &m) != nil {
		return // not an object: the client always makes one
	}
	if _, ok := m[MetadataTraceParent]; ok {
		return
	}
	for k, v := range carrier {
		b, _ := json.Marshal(v)
		m["kiln."+k] = b
	}
	if md, err := json.Marshal(m); err == nil {
		j.Metadata = md
	}
}
