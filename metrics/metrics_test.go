package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/metrics"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testBase = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// workArgs are the args of kind "work": its worker moves the test clock
// forward by Millis, so that the attempt's recorded run time is exact.
type workArgs struct {
	Millis int `json:"millis"`
}

func (workArgs) Kind() string { return "work" }

// failArgs are the args of kind "fail", whose worker always fails.
type failArgs struct{}

func (failArgs) Kind() string { return "fail" }

// newClient returns a client with one worker, whose clock is clock;
// start also starts it.
func newClient(t *testing.T, clock *kilntest.Clock, start bool) *kiln.Client {
	t.Helper()
	return newClientOn(t, clienttest.OpenStore(t), clock, start)
}

// newClientOn is newClient on the store st.
func newClientOn(t *testing.T, st *sqlite.Store, clock *kilntest.Clock, start bool) *kiln.Client {
	t.Helper()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(_ context.Context, job *kiln.Job[workArgs]) error {
		clock.Advance(time.Duration(job.Args.Millis) * time.Millisecond)
		return nil
	}))
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[failArgs]) error { return errors.New("always fails") }))
	return clienttest.NewOn(t, st, workers, clock, start, true)
}

// newCollector returns a Collector for c, closed when the test ends.
func newCollector(t *testing.T, c *kiln.Client, opts *metrics.Options) *metrics.Collector {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	col, err := metrics.New(c, opts)
	if err != nil {
		t.Fatalf("metrics.New: %v", err)
	}
	t.Cleanup(col.Close)
	return col
}

// values gathers col through a pedantic registry (which also checks that
// Collect matches Describe) and returns each sample as
// "name{label=value,...}" -> value; histograms give their _count, _sum and
// _bucket{le=...} samples.
func values(t *testing.T, col prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(col)
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := func(suffix string, extra ...string) string {
				return f.GetName() + suffix + "{" + strings.Join(append(append([]string{}, labels...), extra...), ",") + "}"
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[key("")] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key("")] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				out[key("_count")] = float64(h.GetSampleCount())
				out[key("_sum")] = h.GetSampleSum()
				for _, b := range h.GetBucket() {
					out[key("_bucket", fmt.Sprintf("le=%g", b.GetUpperBound()))] = float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

// waitValues polls col until every wanted sample has its value: the
// Collector counts events in its own goroutine.
func waitValues(t *testing.T, col prometheus.Collector, want map[string]float64) {
	t.Helper()
	testutil.EventuallyNil(t, "the metrics' values", func() error {
		got := values(t, col)
		var wrong []string
		for k, v := range want {
			if got[k] != v {
				wrong = append(wrong, fmt.Sprintf("%s = %g, want %g", k, got[k], v))
			}
		}
		if len(wrong) > 0 {
			sort.Strings(wrong)
			return fmt.Errorf("metrics:\n%s", strings.Join(wrong, "\n"))
		}
		return nil
	})
}

func TestEventCounters(t *testing.T) {
	t.Parallel()
	clock := kilntest.NewClock(testBase)
	c := newClient(t, clock, true)
	col := newCollector(t, c, &metrics.Options{Clock: clock})

	// One worker: each attempt's run time is exactly what its worker moved
	// the clock by.
	for _, ms := range []int{20, 300, 2000} {
		clienttest.WaitState(t, c, clienttest.Enqueue(t, c, workArgs{Millis: ms}, nil).ID, kilntype.JobStateCompleted)
	}
	failing := clienttest.Enqueue(t, c, failArgs{}, &kiln.EnqueueOpts{MaxAttempts: 2})
	clienttest.WaitState(t, c, failing.ID, kilntype.JobStateRetryable)
	clock.Advance(time.Hour) // past any backoff
	clienttest.WaitState(t, c, failing.ID, kilntype.JobStateDiscarded)

	waitValues(t, col, map[string]float64{
		"kiln_jobs_succeeded_total{kind=work}":          3,
		"kiln_jobs_failed_total{kind=fail}":             2,
		"kiln_jobs_retried_total{kind=fail}":            1,
		"kiln_jobs_discarded_total{kind=fail}":          1,
		"kiln_job_run_seconds_count{kind=work}":         3,
		"kiln_job_run_seconds_sum{kind=work}":           2.32,
		"kiln_job_run_seconds_bucket{kind=work,le=0.1}": 1,
		"kiln_job_run_seconds_bucket{kind=work,le=0.5}": 2,
		"kiln_job_run_seconds_bucket{kind=work,le=2.5}": 3,
		"kiln_job_run_seconds_count{kind=fail}":         2,
	})
	got := values(t, col)
	if _, ok := got["kiln_jobs_succeeded_total{kind=fail}"]; ok {
		t.Fatal("a kind that never succeeded has a succeeded series")
	}

	// After Close, events are no longer counted; the counts stay.
	col.Close()
	col.Close()
	clienttest.WaitState(t, c, clienttest.Enqueue(t, c, workArgs{Millis: 1}, nil).ID, kilntype.JobStateCompleted)
	if n := values(t, col)["kiln_jobs_succeeded_total{kind=work}"]; n != 3 {
		t.Fatalf("after Close: succeeded %g, want 3", n)
	}
}

func TestStoreGauges(t *testing.T) {
	t.Parallel()
	clock := kilntest.NewClock(testBase)
	c := newClient(t, clock, false)
	clienttest.Enqueue(t, c, workArgs{}, &kiln.EnqueueOpts{Queue: "mail"})
	clock.Advance(15 * time.Second)
	clienttest.Enqueue(t, c, workArgs{}, &kiln.EnqueueOpts{Queue: "mail"})
	clienttest.Enqueue(t, c, workArgs{}, &kiln.EnqueueOpts{Queue: "mail", RunIn: time.Hour})
	cancelled := clienttest.Enqueue(t, c, workArgs{}, &kiln.EnqueueOpts{Queue: "default", RunIn: time.Hour})
	if _, err := c.JobCancel(t.Context(), cancelled.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.QueuePause(t.Context(), "mail"); err != nil {
		t.Fatal(err)
	}
	if err := c.QueuePause(t.Context(), "idle"); err != nil {
		t.Fatal(err)
	}
	if err := c.QueueResume(t.Context(), "idle"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	col := newCollector(t, c, &metrics.Options{Clock: clock, CacheTTL: time.Hour})

	expected := `
# HELP kiln_queue_latency_seconds How long the queue's oldest available job has been due, in seconds; 0 when no job is available.
# TYPE kiln_queue_latency_seconds gauge
kiln_queue_latency_seconds{queue="idle"} 0
kiln_queue_latency_seconds{queue="mail"} 45
# HELP kiln_queue_paused 1 if the queue is paused for every process, else 0.
# TYPE kiln_queue_paused gauge
kiln_queue_paused{queue="idle"} 0
kiln_queue_paused{queue="mail"} 1
`
	if err := promtestutil.CollectAndCompare(col, strings.NewReader(expected), "kiln_queue_latency_seconds", "kiln_queue_paused"); err != nil {
		t.Fatal(err)
	}
	got := values(t, col)
	for series, want := range map[string]float64{
		"kiln_jobs{queue=mail,state=available}":    2,
		"kiln_jobs{queue=mail,state=scheduled}":    1,
		"kiln_jobs{queue=mail,state=completed}":    0,
		"kiln_jobs{queue=default,state=cancelled}": 1,
		"kiln_jobs{queue=default,state=available}": 0,
	} {
		if got[series] != want {
			t.Errorf("%s = %g, want %g", series, got[series], want)
		}
	}
	if n := promtestutil.CollectAndCount(col, "kiln_jobs"); n != 2*len(kilntype.JobStates()) {
		t.Errorf("kiln_jobs has %d series, want every state of 2 queues", n)
	}

	// Within the cache TTL a scrape reuses the counts (latency still moves
	// with the clock); a Collector without cache reads them again.
	clienttest.Enqueue(t, c, workArgs{}, &kiln.EnqueueOpts{Queue: "mail"})
	clock.Advance(5 * time.Second)
	got = values(t, col)
	if got["kiln_jobs{queue=mail,state=available}"] != 2 || got["kiln_queue_latency_seconds{queue=mail}"] != 50 {
		t.Errorf("cached scrape: available %g, latency %g; want 2 and 50",
			got["kiln_jobs{queue=mail,state=available}"], got["kiln_queue_latency_seconds{queue=mail}"])
	}
	fresh := newCollector(t, c, &metrics.Options{Clock: clock, CacheTTL: -1})
	if n := values(t, fresh)["kiln_jobs{queue=mail,state=available}"]; n != 3 {
		t.Errorf("uncached scrape: available %g, want 3", n)
	}
	if problems, err := promtestutil.CollectAndLint(fresh); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	clock := kilntest.NewClock(testBase)
	st := clienttest.OpenStore(t)
	c := newClientOn(t, st, clock, false)
	clienttest.Enqueue(t, c, workArgs{}, nil)
	col := newCollector(t, c, &metrics.Options{Clock: clock})
	body := scrape(t, col.Handler())
	if !strings.Contains(body, `kiln_jobs{queue="default",state="available"} 1`) || !strings.Contains(body, "# HELP kiln_queue_latency_seconds") ||
		!strings.Contains(body, "kiln_store_up 1") {
		t.Fatalf("scrape:\n%s", body)
	}

	// A store that fails leaves the gauges out and still answers.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	broken := newCollector(t, c, &metrics.Options{Clock: clock, CacheTTL: -1})
	if body := scrape(t, broken.Handler()); strings.Contains(body, "kiln_jobs{") || !strings.Contains(body, "kiln_store_up 0") {
		t.Fatalf("scrape of a closed store:\n%s", body)
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestNewRejectsBadBuckets(t *testing.T) {
	t.Parallel()
	c := newClient(t, kilntest.NewClock(testBase), false)
	for _, b := range [][]float64{{}, {1, 0.5}, {1, 1}} {
		if col, err := metrics.New(c, &metrics.Options{RunTimeBuckets: b}); err == nil {
			col.Close()
			t.Errorf("buckets %v accepted", b)
		}
	}
}
