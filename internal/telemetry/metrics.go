package telemetry

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names. They mirror the Prometheus metrics of package metrics
// (docs/metrics.md) and carry no job ID: their attributes are the kind,
// the queue, the outcome and the state, whose values are few.
const (
	MetricJobDuration  = "kiln.job.duration"   // histogram, s: kiln.job.kind, kiln.job.outcome
	MetricQueueTime    = "kiln.job.queue_time" // histogram, s: kiln.job.kind, messaging.destination.name
	MetricQueueJobs    = "kiln.queue.jobs"     // gauge, {job}: messaging.destination.name, kiln.job.state
	MetricQueuePaused  = "kiln.queue.paused"   // gauge, 1 or 0: messaging.destination.name
	MetricQueueLatency = "kiln.queue.latency"  // gauge, s: messaging.destination.name
)

// DefaultBuckets are the bucket bounds, in seconds, of the duration
// histograms: those of the Prometheus kiln_job_run_seconds (5 ms to 1 h).
var DefaultBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// newInstruments makes the instruments of mp.
func (t *Telemetry) newInstruments(mp metric.MeterProvider, buckets []float64) error {
	m := mp.Meter(ScopeName)
	t.meter = m
	var err error
	if t.jobDuration, err = m.Float64Histogram(MetricJobDuration, metric.WithUnit("s"),
		metric.WithDescription("Run time of the attempts this process ran, by kind and outcome."),
		metric.WithExplicitBucketBoundaries(buckets...)); err != nil {
		return fmt.Errorf("kiln: metric %s: %w", MetricJobDuration, err)
	}
	if t.queueTime, err = m.Float64Histogram(MetricQueueTime, metric.WithUnit("s"),
		metric.WithDescription("How long each attempt this process started had been due before it started, by kind and queue."),
		metric.WithExplicitBucketBoundaries(buckets...)); err != nil {
		return fmt.Errorf("kiln: metric %s: %w", MetricQueueTime, err)
	}
	if t.queueJobs, err = m.Int64ObservableGauge(MetricQueueJobs, metric.WithUnit("{job}"),
		metric.WithDescription("Jobs in the store, by queue and state (every process's jobs).")); err != nil {
		return fmt.Errorf("kiln: metric %s: %w", MetricQueueJobs, err)
	}
	if t.queuePaused, err = m.Int64ObservableGauge(MetricQueuePaused, metric.WithUnit("1"),
		metric.WithDescription("1 if the queue is paused for every process, else 0.")); err != nil {
		return fmt.Errorf("kiln: metric %s: %w", MetricQueuePaused, err)
	}
	if t.queueLatency, err = m.Float64ObservableGauge(MetricQueueLatency, metric.WithUnit("s"),
		metric.WithDescription("How long the queue's oldest available job has been due; 0 when no job is available.")); err != nil {
		return fmt.Errorf("kiln: metric %s: %w", MetricQueueLatency, err)
	}
	t.durationAttrs.keys = [2]attribute.Key{KeyKind, KeyOutcome}
	t.waitAttr.keys = [2]attribute.Key{KeyKind, KeyQueue}
	return nil
}

// QueueGauge is what the store-wide gauges report of one queue.
type QueueGauge struct {
	Name    string
	States  map[string]int64 // jobs by state
	Paused  bool
	Latency time.Duration
}

// ReadTimeout bounds the store reads of one collection of the gauges.
const ReadTimeout = 5 * time.Second

// RegisterGauges makes read report the queue gauges at each collection of
// the meter provider's readers, until the returned function is called.
func (t *Telemetry) RegisterGauges(read func(context.Context) ([]QueueGauge, error)) (unregister func(), err error) {
	reg, err := t.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, ReadTimeout)
		defer cancel()
		queues, err := read(ctx)
		if err != nil {
			return fmt.Errorf("kiln: read queue gauges: %w", err)
		}
		for _, q := range queues {
			queue := KeyQueue.String(q.Name)
			for state, n := range q.States {
				o.ObserveInt64(t.queueJobs, n, metric.WithAttributes(queue, KeyState.String(state)))
			}
			paused := int64(0)
			if q.Paused {
				paused = 1
			}
			o.ObserveInt64(t.queuePaused, paused, metric.WithAttributes(queue))
			o.ObserveFloat64(t.queueLatency, max(q.Latency.Seconds(), 0), metric.WithAttributes(queue))
		}
		return nil
	}, t.queueJobs, t.queuePaused, t.queueLatency)
	if err != nil {
		return nil, fmt.Errorf("kiln: register queue gauges: %w", err)
	}
	return func() { _ = reg.Unregister() }, nil
}

// attrCache keeps the measurement option of each pair of attribute values,
// so that recording a measurement does not allocate once a pair was seen.
type attrCache struct {
	keys [2]attribute.Key
	mu   sync.RWMutex // guards opts
	opts map[[2]string]metric.MeasurementOption
}

func (c *attrCache) get(a, b string) metric.MeasurementOption {
	k := [2]string{a, b}
	c.mu.RLock()
	o, ok := c.opts[k]
	c.mu.RUnlock()
	if ok {
		return o
	}
	o = metric.WithAttributeSet(attribute.NewSet(c.keys[0].String(a), c.keys[1].String(b)))
	c.mu.Lock()
	if c.opts == nil {
		c.opts = map[[2]string]metric.MeasurementOption{}
	}
	c.opts[k] = o
	c.mu.Unlock()
	return o
}
