// Package metrics exports Kiln's job metrics to Prometheus through
// github.com/prometheus/client_golang: jobs by queue and state, queue
// latency and pauses (read from the store at scrape time), and this
// process's attempts by kind (counted from the client's events): how many
// succeeded, failed, were retried or discarded, and how long they ran.
//
// Register a [Collector] in your registry, or serve [Collector.Handler]:
//
//	col, err := metrics.New(client, nil)
//	if err != nil { ... }
//	defer col.Close()
//	prometheus.MustRegister(col) // or: http.Handle("/metrics", col.Handler())
//
// docs/metrics.md lists every metric with its labels.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kilnjobs/kiln"
)

// DefaultRunTimeBuckets are the upper bounds, in seconds, of the
// kiln_job_run_seconds buckets when Options.RunTimeBuckets is nil: from
// 5 ms to 1 hour, as background jobs run from milliseconds to minutes.
var DefaultRunTimeBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

const (
	// DefaultCacheTTL is Options.CacheTTL's default: how long a read of
	// the store's counts serves later scrapes.
	DefaultCacheTTL = 5 * time.Second
	// DefaultReadTimeout is Options.ReadTimeout's default: the bound on
	// one scrape's store reads.
	DefaultReadTimeout = 5 * time.Second
)

// Options configures a Collector. The zero value (and a nil *Options)
// gives the documented defaults.
type Options struct {
	// CacheTTL is how long the counts read from the store at a scrape are
	// reused by later scrapes (wall-clock time), so that several
	// Prometheus servers or a fast scrape interval do not multiply the
	// reads. Default DefaultCacheTTL (5 s); negative reads at every scrape.
	CacheTTL time.Duration
	// ReadTimeout bounds the store reads of one scrape. Default
	// DefaultReadTimeout (5 s).
	ReadTimeout time.Duration
	// RunTimeBuckets are the upper bounds, in seconds and increasing, of
	// kiln_job_run_seconds. Default DefaultRunTimeBuckets.
	RunTimeBuckets []float64
	// Clock gives the time queue latency is measured at; pass the client's
	// Config.Clock if it is not the system clock. Default: the system
	// clock.
	Clock kiln.Clock
	// Logger receives store read errors. Default: slog.Default().
	Logger *slog.Logger
}

// Collector is a prometheus.Collector of Kiln's metrics for one client.
// It counts the client's job events from New until Close, in a goroutine
// it owns. It is safe for concurrent use.
type Collector struct {
	client  *kiln.Client
	ttl     time.Duration
	timeout time.Duration
	clock   kiln.Clock
	logger  *slog.Logger

	jobs, queuePaused, queueLatency, storeUp *prometheus.Desc

	succeeded, failed, retried, discarded *prometheus.CounterVec
	runTime                               *prometheus.HistogramVec

	unsubscribe func()
	done        chan struct{} // closed when the event goroutine exits
	closeOnce   sync.Once

	mu       sync.Mutex // guards readAt, snapshot; held during a store read, so concurrent scrapes share it
	readAt   time.Time
	snapshot *snapshot

	handler http.Handler
}

// snapshot is what one scrape read from the store.
type snapshot struct {
	stats  *kiln.Stats
	queues []*kiln.QueueRow
	err    error
}

// clientEvents are the events the Collector counts: those that end an
// attempt.
var clientEvents = []kiln.EventKind{
	kiln.EventJobCompleted, kiln.EventJobFailed, kiln.EventJobDiscarded, kiln.EventJobCancelled, kiln.EventJobSnoozed,
}

// New returns a Collector for client; opts may be nil. It subscribes to
// the client's events at once: attempts that end before New are not
// counted. Call Close to stop it. It returns an error for invalid
// RunTimeBuckets (empty or not increasing).
func New(client *kiln.Client, opts *Options) (*Collector, error) {
	if opts == nil {
		opts = &Options{}
	}
	c := &Collector{client: client, ttl: opts.CacheTTL, timeout: opts.ReadTimeout, clock: opts.Clock, logger: opts.Logger}
	if c.ttl == 0 {
		c.ttl = DefaultCacheTTL
	}
	if c.timeout <= 0 {
		c.timeout = DefaultReadTimeout
	}
	if c.clock == nil {
		c.clock = systemClock{}
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	buckets := opts.RunTimeBuckets
	if buckets == nil {
		buckets = DefaultRunTimeBuckets
	}
	if len(buckets) == 0 || !slices.IsSorted(buckets) || len(slices.Compact(slices.Clone(buckets))) != len(buckets) {
		return nil, fmt.Errorf("metrics: RunTimeBuckets %v: want at least one bound, strictly increasing", buckets)
	}

	c.jobs = prometheus.NewDesc("kiln_jobs", "Jobs in the store, by queue and state (every process's jobs).", []string{"queue", "state"}, nil)
	c.queuePaused = prometheus.NewDesc("kiln_queue_paused", "1 if the queue is paused for every process, else 0.", []string{"queue"}, nil)
	c.queueLatency = prometheus.NewDesc("kiln_queue_latency_seconds",
		"How long the queue's oldest available job has been due, in seconds; 0 when no job is available.", []string{"queue"}, nil)
	c.storeUp = prometheus.NewDesc("kiln_store_up",
		"1 if this scrape read the job and queue counts from the store, 0 if the read failed (the error is logged).", nil, nil)
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"kind"})
	}
	c.succeeded = counter("kiln_jobs_succeeded_total", "Attempts run by this process that completed their job, by kind.")
	c.failed = counter("kiln_jobs_failed_total", "Attempts run by this process that failed (retried or discarded after), by kind.")
	c.retried = counter("kiln_jobs_retried_total", "Failed attempts run by this process whose job will be retried, by kind.")
	c.discarded = counter("kiln_jobs_discarded_total", "Failed attempts run by this process that discarded their job (no attempts left), by kind.")
	c.runTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kiln_job_run_seconds",
		Help:    "Run time of the attempts this process ran (completed, failed, discarded, cancelled or snoozed), in seconds, by kind.",
		Buckets: buckets,
	}, []string{"kind"})

	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	c.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, ErrorLog: slog.NewLogLogger(c.logger.Handler(), slog.LevelError),
	})

	events, unsubscribe := client.Subscribe(clientEvents...)
	c.unsubscribe, c.done = unsubscribe, make(chan struct{})
	go c.count(events)
	return c, nil
}

// Close stops counting events and waits for the event goroutine to exit.
// The metrics stay readable, with the counts reached. Closing twice does
// nothing.
func (c *Collector) Close() {
	c.closeOnce.Do(c.unsubscribe)
	<-c.done
}

// Handler returns an http.Handler that serves this Collector's metrics
// (and only them) in Prometheus's exposition formats. A failed store read
// leaves out the store's gauges, sets kiln_store_up to 0 and logs the
// error; the counters are still served.
func (c *Collector) Handler() http.Handler { return c.handler }

// count observes events until the subscription ends.
func (c *Collector) count(events <-chan *kiln.Event) {
	defer close(c.done)
	for ev := range events {
		c.observe(ev)
	}
}

// observe counts one event that ended an attempt.
func (c *Collector) observe(ev *kiln.Event) {
	kind := ev.Job.Kind
	switch ev.Kind {
	case kiln.EventJobCompleted:
		c.succeeded.WithLabelValues(kind).Inc()
	case kiln.EventJobFailed:
		c.failed.WithLabelValues(kind).Inc()
		c.retried.WithLabelValues(kind).Inc()
	case kiln.EventJobDiscarded:
		c.failed.WithLabelValues(kind).Inc()
		c.discarded.WithLabelValues(kind).Inc()
	}
	if a := ev.Attempt; a != nil && a.FinishedAt != nil {
		c.runTime.WithLabelValues(kind).Observe(a.FinishedAt.Sub(a.StartedAt).Seconds())
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.queuePaused
	ch <- c.queueLatency
	ch <- c.storeUp
	for _, v := range c.counters() {
		v.Describe(ch)
	}
	c.runTime.Describe(ch)
}

// Collect implements prometheus.Collector: the event counts, and the
// store's counts read now or within CacheTTL.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, v := range c.counters() {
		v.Collect(ch)
	}
	c.runTime.Collect(ch)

	s := c.read()
	if s.err != nil {
		ch <- prometheus.MustNewConstMetric(c.storeUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.storeUp, prometheus.GaugeValue, 1)
	for _, q := range s.stats.Queues {
		for state, n := range q.States {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), q.Name, string(state))
		}
	}
	now := c.clock.Now()
	for _, q := range s.queues {
		paused, latency := 0.0, 0.0
		if q.Paused {
			paused = 1
		}
		if q.OldestAvailableAt != nil {
			latency = max(now.Sub(*q.OldestAvailableAt).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.queuePaused, prometheus.GaugeValue, paused, q.Name)
		ch <- prometheus.MustNewConstMetric(c.queueLatency, prometheus.GaugeValue, latency, q.Name)
	}
}

func (c *Collector) counters() []*prometheus.CounterVec {
	return []*prometheus.CounterVec{c.succeeded, c.failed, c.retried, c.discarded}
}

// read returns the store's counts, read now unless a read younger than
// the TTL exists.
func (c *Collector) read() *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.snapshot != nil && time.Since(c.readAt) < c.ttl {
		return c.snapshot
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	s := &snapshot{}
	var statsErr, queuesErr error
	s.stats, statsErr = c.client.Stats(ctx)
	s.queues, queuesErr = c.client.QueueList(ctx)
	if s.err = errors.Join(statsErr, queuesErr); s.err != nil {
		s.err = fmt.Errorf("metrics: read job counts: %w", s.err)
		c.logger.Error("kiln: metrics", "error", s.err)
	}
	c.snapshot, c.readAt = s, time.Now()
	return s
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
