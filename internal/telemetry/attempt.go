package telemetry

import (
	"bytes"
	"context"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Attempt starts what is recorded of one attempt of row: its "process"
// span (a CONSUMER span, related to the job's creation context as Style
// says) and its time in the queue. It returns the context the worker runs
// under, which carries the span, and the function to call with the
// attempt's outcome and the worker's error. With neither tracing nor
// metrics on it returns ctx and nil, and does not allocate.
func (t *Telemetry) Attempt(ctx context.Context, row *kilntype.JobRow) (context.Context, func(*store.JobFinishParams, error)) {
	tr := t.tracer()
	metrics := t.jobDuration.Enabled(ctx)
	if tr == nil && !metrics {
		return ctx, nil
	}
	if metrics && row.AttemptedAt != nil {
		t.queueTime.Record(ctx, max(row.AttemptedAt.Sub(row.ScheduledAt).Seconds(), 0), t.waitAttr.get(row.Kind, row.Queue))
	}
	var span trace.Span
	if tr != nil {
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
			systemKiln, semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"),
			KeyQueue.String(row.Queue), semconv.MessagingMessageID(strconv.FormatInt(row.ID, 10)),
			KeyKind.String(row.Kind), KeyAttempt.Int(row.Attempt), KeyPriority.Int(row.Priority))}
		parent := ctx
		switch sc := creationContext(row); {
		case !sc.IsValid() || t.style == StyleNone:
			opts = append(opts, trace.WithNewRoot())
		case t.style == StyleLink:
			opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: sc}))
		default:
			parent = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
		ctx, span = tr.Start(parent, "process "+row.Queue, opts...)
	}
	return ctx, func(p *store.JobFinishParams, err error) {
		if metrics && p.Attempt.FinishedAt != nil {
			t.jobDuration.Record(ctx, p.Attempt.FinishedAt.Sub(p.Attempt.StartedAt).Seconds(),
				t.durationAttrs.get(row.Kind, string(p.Attempt.Outcome)))
		}
		if span != nil {
			endAttempt(span, p, err)
		}
	}
}

// endAttempt records the attempt's outcome on its span and ends it: the
// error as an exception event (with the panic's stack for a panic), and an
// error status with error.type when the attempt failed.
func endAttempt(span trace.Span, p *store.JobFinishParams, err error) {
	span.SetAttributes(KeyOutcome.String(string(p.Attempt.Outcome)), KeyState.String(string(p.State)))
	if err != nil {
		var opts []trace.EventOption
		if p.Attempt.Trace != "" {
			opts = append(opts, trace.WithAttributes(semconv.ExceptionStacktrace(p.Attempt.Trace)))
		}
		span.RecordError(err, opts...)
	}
	if p.Attempt.Outcome == kilntype.AttemptFailed {
		span.SetStatus(codes.Error, p.Attempt.Error)
		span.SetAttributes(errorType(p, err))
	}
	span.End()
}

// errorType is a failed attempt's error.type: "panic", "timeout", or the
// error's type as the semantic conventions derive it.
func errorType(p *store.JobFinishParams, err error) attribute.KeyValue {
	switch {
	case p.Attempt.Trace != "":
		return semconv.ErrorTypeKey.String("panic")
	case strings.HasPrefix(p.Attempt.Error, jobexec.ErrTimeout.Error()):
		return semconv.ErrorTypeKey.String("timeout")
	case err == nil:
		return semconv.ErrorTypeOther
	}
	return semconv.ErrorType(err)
}

// creationContext returns the span context stored in the job's metadata
// at enqueue, or an invalid one.
func creationContext(row *kilntype.JobRow) trace.SpanContext {
	if !bytes.Contains(row.Metadata, []byte(MetadataTraceParent)) {
		return trace.SpanContext{}
	}
	m := row.MetadataMap()
	carrier := propagation.MapCarrier{"traceparent": m[MetadataTraceParent]}
	if s, ok := m[MetadataTraceState]; ok {
		carrier["tracestate"] = s
	}
	return trace.SpanContextFromContext(traceContext.Extract(context.Background(), carrier))
}
