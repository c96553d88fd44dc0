package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// tracedStore times the hot store calls of Kiln (--kiln-trace); the other
// calls go to the store it wraps, untimed.
type tracedStore struct {
	store.Store
	mu    sync.Mutex
	calls map[string]*callStats
	// claiming is the JobClaim calls in flight; claims counts those
	// started.
	claiming, claims atomic.Int64
	// logging turns on the log of calls and notifications that the
	// per-sample causes read (samples.go).
	logging atomic.Bool
	logMu   sync.Mutex
	events  []callEvent
	notices []time.Time // when each notification reached the client
}

// callEvent is one logged store call: when it ran and, for a claim, the
// IDs it returned.
type callEvent struct {
	name       string
	start, end time.Time
	ids        []int64
}

// log appends a call that began at began and ends now, if logging.
func (t *tracedStore) log(name string, began time.Time, ids []int64) {
	if !t.logging.Load() {
		return
	}
	now := time.Now()
	t.logMu.Lock()
	t.events = append(t.events, callEvent{name: name, start: began, end: now, ids: ids})
	t.logMu.Unlock()
}

// takeLog returns the logged calls and notifications and empties the log.
func (t *tracedStore) takeLog() ([]callEvent, []time.Time) {
	t.logMu.Lock()
	defer t.logMu.Unlock()
	ev, no := t.events, t.notices
	t.events, t.notices = nil, nil
	return ev, no
}

type callStats struct {
	n, rows   int
	total     time.Duration
	maxCall   time.Duration
	emptyRows int // calls that returned no row
}

func newTracedStore(s store.Store) *tracedStore {
	return &tracedStore{Store: s, calls: map[string]*callStats{}}
}

// asStore returns t as the store to give the client: its notifications
// (store.Notifier) are the wrapped store's, untraced, so that tracing
// leaves LISTEN/NOTIFY, and so the latency figures, as they are.
func (t *tracedStore) asStore() store.Store { return t }

func (t *tracedStore) record(name string, began time.Time, rows int) {
	d := time.Since(began)
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.calls[name]
	if c == nil {
		c = &callStats{}
		t.calls[name] = c
	}
	c.n++
	c.rows += rows
	c.total += d
	c.maxCall = max(c.maxCall, d)
	if rows == 0 {
		c.emptyRows++
	}
}

// report returns a line per call kind and resets the counts.
func (t *tracedStore) report(phase string, wall time.Duration) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, name := range []string{"JobInsertMany", "JobClaim", "JobFinishMany", "JobLeaseRenew", "JobListCancelRequested"} {
		c := t.calls[name]
		if c == nil {
			continue
		}
		out = append(out, fmt.Sprintf("trace %s: %s %d calls (%d empty), %.1f rows/call, mean %s, max %s, sum %s (%.0f%% of the phase's %s)",
			phase, name, c.n, c.emptyRows, float64(c.rows)/float64(c.n), fmtDuration(c.total/time.Duration(c.n)),
			fmtDuration(c.maxCall), fmtDuration(c.total), 100*c.total.Seconds()/wall.Seconds(), fmtDuration(wall)))
	}
	t.calls = map[string]*callStats{}
	return out
}

func (t *tracedStore) JobInsertMany(ctx context.Context, params []*store.JobInsertParams) ([]store.JobInsertResult, error) {
	began := time.Now()
	r, err := t.Store.JobInsertMany(ctx, params)
	t.record("JobInsertMany", began, len(r))
	t.log("JobInsertMany", began, nil)
	return r, err
}

func (t *tracedStore) JobClaim(ctx context.Context, params *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	t.claims.Add(1)
	t.claiming.Add(1)
	defer t.claiming.Add(-1)
	began := time.Now()
	r, err := t.Store.JobClaim(ctx, params)
	t.record("JobClaim", began, len(r))
	if t.logging.Load() {
		ids := make([]int64, len(r))
		for i, j := range r {
			ids[i] = j.ID
		}
		t.log("JobClaim", began, ids)
	}
	return r, err
}

func (t *tracedStore) JobFinishMany(ctx context.Context, params []*store.JobFinishParams) ([]int64, error) {
	began := time.Now()
	r, err := t.Store.JobFinishMany(ctx, params)
	t.record("JobFinishMany", began, len(params))
	t.log("JobFinishMany", began, nil)
	return r, err
}

func (t *tracedStore) JobLeaseRenew(ctx context.Context, params *store.JobLeaseRenewParams) ([]int64, error) {
	began := time.Now()
	r, err := t.Store.JobLeaseRenew(ctx, params)
	t.record("JobLeaseRenew", began, len(params.IDs))
	t.log("JobLeaseRenew", began, nil)
	return r, err
}

func (t *tracedStore) JobListCancelRequested(ctx context.Context, params *store.JobListCancelRequestedParams) ([]int64, error) {
	began := time.Now()
	r, err := t.Store.JobListCancelRequested(ctx, params)
	t.record("JobListCancelRequested", began, len(r))
	t.log("JobListCancelRequested", began, nil)
	return r, err
}

// The maintenance calls below are only logged (for the per-sample causes).

func (t *tracedStore) JobRescueExpired(ctx context.Context, params *store.JobRescueExpiredParams) ([]*kilntype.JobRow, error) {
	began := time.Now()
	r, err := t.Store.JobRescueExpired(ctx, params)
	t.log("JobRescueExpired", began, nil)
	return r, err
}

func (t *tracedStore) JobStatsFold(ctx context.Context, params *store.JobStatsFoldParams) (int, error) {
	began := time.Now()
	n, err := t.Store.JobStatsFold(ctx, params)
	t.log("JobStatsFold", began, nil)
	return n, err
}

func (t *tracedStore) JobScheduleDue(ctx context.Context, params *store.JobScheduleDueParams) (int, error) {
	began := time.Now()
	n, err := t.Store.JobScheduleDue(ctx, params)
	t.log("JobScheduleDue", began, nil)
	return n, err
}

func (t *tracedStore) JobResolvePending(ctx context.Context, params *store.JobResolvePendingParams) ([]*kilntype.JobRow, error) {
	began := time.Now()
	r, err := t.Store.JobResolvePending(ctx, params)
	t.log("JobResolvePending", began, nil)
	return r, err
}

func (t *tracedStore) JobDeleteFinished(ctx context.Context, params *store.JobDeleteFinishedParams) (int, error) {
	began := time.Now()
	n, err := t.Store.JobDeleteFinished(ctx, params)
	t.log("JobDeleteFinished", began, nil)
	return n, err
}

func (t *tracedStore) LeaderAttemptElect(ctx context.Context, params *store.LeaderElectParams) (bool, error) {
	began := time.Now()
	ok, err := t.Store.LeaderAttemptElect(ctx, params)
	t.log("LeaderAttemptElect", began, nil)
	return ok, err
}

func (t *tracedStore) ServerUpsert(ctx context.Context, params *store.ServerUpsertParams) error {
	began := time.Now()
	err := t.Store.ServerUpsert(ctx, params)
	t.log("ServerUpsert", began, nil)
	return err
}

func (t *tracedStore) JobVacuum(ctx context.Context, params *store.JobVacuumParams) (store.JobVacuumResult, error) {
	began := time.Now()
	r, err := t.Store.JobVacuum(ctx, params)
	name := "JobVacuum (no vacuum)"
	if r.Vacuumed {
		name = "JobVacuum (vacuumed)"
	}
	t.log(name, began, nil)
	return r, err
}

// Listen logs when each notification reaches the client.
func (t *tracedStore) Listen(ctx context.Context, params *store.ListenParams) (store.Subscription, error) {
	p := *params
	handle := p.Handle
	p.Handle = func(n store.Notification) {
		if t.logging.Load() {
			now := time.Now()
			t.logMu.Lock()
			t.notices = append(t.notices, now)
			t.logMu.Unlock()
		}
		handle(n)
	}
	return t.Store.Listen(ctx, &p)
}

// sampleClaims is what the traced store saw of each latency sample: whether
// a claim was in flight when the enqueue returned (and so woke the
// producer), and how many claims started from the enqueue's start to the
// next sample's.
type sampleClaims struct {
	inFlight []bool
	claims   []int64
	mark     int64
}

// begin is called before sample i's enqueue.
func (s *sampleClaims) begin(t *tracedStore) {
	n := t.claims.Load()
	if len(s.claims) > 0 {
		s.claims[len(s.claims)-1] = n - s.mark
	}
	s.mark = n
	s.claims = append(s.claims, 0)
}

// enqueued is called when sample i's enqueue returned.
func (s *sampleClaims) enqueued(t *tracedStore) {
	s.inFlight = append(s.inFlight, t.claiming.Load() > 0)
}

// report returns lines on the samples of lat (in sample order): the
// latency of those whose wake found a claim in flight and of the others,
// and how many claims each sample saw.
func (s *sampleClaims) report(phase string, t *tracedStore, lat []time.Duration) []string {
	if len(s.claims) > 0 {
		s.claims[len(s.claims)-1] = t.claims.Load() - s.mark
	}
	var busy, idle []time.Duration
	perClaims := map[int64]int{}
	for i, d := range lat {
		if i < len(s.inFlight) && s.inFlight[i] {
			busy = append(busy, d)
		} else {
			idle = append(idle, d)
		}
		if i < len(s.claims) {
			perClaims[s.claims[i]]++
		}
	}
	slices.Sort(busy)
	slices.Sort(idle)
	line := func(name string, ds []time.Duration) string {
		if len(ds) == 0 {
			return fmt.Sprintf("%s 0", name)
		}
		return fmt.Sprintf("%s %d (p50 %s, p90 %s, max %s)", name, len(ds), fmtDuration(percentile(ds, 50)),
			fmtDuration(percentile(ds, 90)), fmtDuration(ds[len(ds)-1]))
	}
	keys := slices.Sorted(maps.Keys(perClaims))
	var counts []string
	for _, k := range keys {
		counts = append(counts, fmt.Sprintf("%d claims: %d", k, perClaims[k]))
	}
	slowest := slices.Clone(lat)
	slices.Sort(slowest)
	cut := percentile(slowest, 99)
	var slow []string
	for i, d := range lat {
		if d >= cut {
			slow = append(slow, fmt.Sprintf("#%d %s in flight %v, %d claims", i, fmtDuration(d), i < len(s.inFlight) && s.inFlight[i], s.claims[min(i, len(s.claims)-1)]))
		}
	}
	return []string{
		fmt.Sprintf("claims %s: samples whose enqueue found a claim in flight: %s; others: %s", phase, line("in flight", busy), line("none", idle)),
		fmt.Sprintf("claims %s: claims started per sample: %s", phase, strings.Join(counts, ", ")),
		fmt.Sprintf("claims %s: slowest 1%%: %s", phase, strings.Join(slow, "; ")),
	}
}
