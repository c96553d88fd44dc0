package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Store calls that StoreCall traces.
const (
	OpClaim  = "claim"  // a queue's claim of due jobs: a "receive" operation
	OpFinish = "finish" // a batch of attempt outcomes written: a "settle" operation
)

// StoreCall starts a CLIENT span around one store call of the engine, op
// (OpClaim or OpFinish), of queue ("" when the call is not for one queue),
// and returns the context to call under and the function to call with the
// number of jobs the call moved and its error. Each such span starts a
// trace of its own. When tracing is off it returns ctx and nil, and does
// not allocate.
func (t *Telemetry) StoreCall(ctx context.Context, op, queue string) (context.Context, func(n int, err error)) {
	tr := t.tracer()
	if tr == nil {
		return ctx, nil
	}
	opType := semconv.MessagingOperationTypeReceive
	if op == OpFinish {
		opType = semconv.MessagingOperationTypeSettle
	}
	attrs := []attribute.KeyValue{systemKiln, opType, semconv.MessagingOperationName(op)}
	name := "kiln." + op
	if queue != "" {
		name += " " + queue
		attrs = append(attrs, KeyQueue.String(queue))
	}
	ctx, span := tr.Start(ctx, name, trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, func(n int, err error) {
		span.SetAttributes(semconv.MessagingBatchMessageCount(n))
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			span.SetAttributes(semconv.ErrorType(err))
		}
		span.End()
	}
}
