package main

import (
	"context"
	"fmt"
	"sync"
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
	return r, err
}

func (t *tracedStore) JobClaim(ctx context.Context, params *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	began := time.Now()
	r, err := t.Store.JobClaim(ctx, params)
	t.record("JobClaim", began, len(r))
	return r, err
}

func (t *tracedStore) JobFinishMany(ctx context.Context, params []*store.JobFinishParams) ([]int64, error) {
	began := time.Now()
	r, err := t.Store.JobFinishMany(ctx, params)
	t.record("JobFinishMany", began, len(params))
	return r, err
}

func (t *tracedStore) JobLeaseRenew(ctx context.Context, params *store.JobLeaseRenewParams) ([]int64, error) {
	began := time.Now()
	r, err := t.Store.JobLeaseRenew(ctx, params)
	t.record("JobLeaseRenew", began, len(params.IDs))
	return r, err
}

func (t *tracedStore) JobListCancelRequested(ctx context.Context, params *store.JobListCancelRequestedParams) ([]int64, error) {
	began := time.Now()
	r, err := t.Store.JobListCancelRequested(ctx, params)
	t.record("JobListCancelRequested", began, len(r))
	return r, err
}
