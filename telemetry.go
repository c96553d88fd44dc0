package kiln

import (
	"context"
	"fmt"

	"github.com/kilnjobs/kiln/internal/telemetry"
)

// TraceStyle is how the OpenTelemetry span of a job's attempt relates to
// the span of the enqueue that made the job (Config.TraceStyle), as Ruby
// ActiveJob's propagation_style.
type TraceStyle string

// Trace styles.
const (
	// TraceChild makes each attempt's span a child of the enqueue's span:
	// the request that enqueued the job and every attempt of it are one
	// trace. The default.
	TraceChild TraceStyle = "child"
	// TraceLink starts a trace for each attempt, linked to the enqueue's
	// span: for jobs that run long after their enqueue, or many times.
	TraceLink TraceStyle = "link"
	// TraceNone starts a trace for each attempt, unrelated to the enqueue.
	TraceNone TraceStyle = "none"
)

// Metadata keys of the W3C trace context an enqueue stores with each job
// (its traceparent and tracestate, under "kiln.traceparent" and
// "kiln.tracestate"), which the job's attempts continue
// (see Config.TracerProvider). A job enqueued with MetadataTraceParent in
// EnqueueOpts.Metadata keeps that creation context.
const (
	MetadataTraceParent = telemetry.MetadataTraceParent
	MetadataTraceState  = telemetry.MetadataTraceState
)

// newTelemetry makes the client's instrumentation from cfg.
func newTelemetry(cfg *Config) (*telemetry.Telemetry, error) {
	switch cfg.TraceStyle {
	case "", TraceChild, TraceLink, TraceNone:
	default:
		return nil, fmt.Errorf("kiln: Config.TraceStyle is %q; want %q, %q or %q", cfg.TraceStyle, TraceChild, TraceLink, TraceNone)
	}
	return telemetry.New(telemetry.Config{
		TracerProvider: cfg.TracerProvider, MeterProvider: cfg.MeterProvider,
		Style: telemetry.Style(cfg.TraceStyle), RunTimeBuckets: telemetry.DefaultBuckets,
	})
}

// registerGauges makes the meter provider read the queue gauges from the
// store while the client runs; it returns the function that stops it.
func (c *Client) registerGauges() func() {
	unregister, err := c.tel.RegisterGauges(func(ctx context.Context) ([]telemetry.QueueGauge, error) {
		stats, err := c.Stats(ctx)
		if err != nil {
			return nil, err
		}
		queues, err := c.QueueList(ctx)
		if err != nil {
			return nil, err
		}
		idx := make(map[string]int, len(stats.Queues)+len(queues))
		var out []telemetry.QueueGauge
		gauge := func(name string) *telemetry.QueueGauge {
			i, ok := idx[name]
			if !ok {
				i = len(out)
				idx[name] = i
				out = append(out, telemetry.QueueGauge{Name: name})
			}
			return &out[i]
		}
		for _, q := range stats.Queues {
			states := make(map[string]int64, len(q.States))
			for state, n := range q.States {
				states[string(state)] = int64(n)
			}
			gauge(q.Name).States = states
		}
		now := c.now()
		for _, q := range queues {
			g := gauge(q.Name)
			g.Paused = q.Paused
			if q.OldestAvailableAt != nil {
				g.Latency = now.Sub(*q.OldestAvailableAt)
			}
		}
		return out, nil
	})
	if err != nil {
		c.cfg.Logger.Error("kiln: cannot report the queue gauges", "err", err)
		return func() {}
	}
	return unregister
}
