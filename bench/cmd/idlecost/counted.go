package main

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// calls counts the calls of a store's polling methods, by method, and
// whether the client won the maintenance leadership.
type calls struct {
	mu     sync.Mutex
	n      map[string]int64
	leader atomic.Bool
}

func newCalls() *calls { return &calls{n: map[string]int64{}} }

func (c *calls) hit(name string) {
	c.mu.Lock()
	c.n[name]++
	c.mu.Unlock()
}

// snapshot returns a copy of the counts.
func (c *calls) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		m[k] = v
	}
	return m
}

// since returns the counts of now minus those of before, in name order.
func since(now, before map[string]int64) map[string]int64 {
	names := make([]string, 0, len(now))
	for k := range now {
		names = append(names, k)
	}
	sort.Strings(names)
	d := make(map[string]int64, len(names))
	for _, k := range names {
		d[k] = now[k] - before[k]
	}
	return d
}

func (c *calls) elected(p *store.LeaderElectParams, ok bool, err error) {
	if err == nil && p.Name == "maintenance" {
		c.leader.Store(ok)
	}
}

// countedSQLite and countedPostgres are the stores with their polling
// methods counted; every other method, and every optional interface, is
// the store's own.
type countedSQLite struct {
	*sqlite.Store
	c *calls
}

func (s countedSQLite) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	s.c.hit("claim")
	return s.Store.JobClaim(ctx, p)
}

func (s countedSQLite) JobScheduleDue(ctx context.Context, p *store.JobScheduleDueParams) (int, error) {
	s.c.hit("schedule due")
	return s.Store.JobScheduleDue(ctx, p)
}

func (s countedSQLite) JobRescueExpired(ctx context.Context, p *store.JobRescueExpiredParams) ([]*kilntype.JobRow, error) {
	s.c.hit("rescue")
	return s.Store.JobRescueExpired(ctx, p)
}

func (s countedSQLite) JobDeleteFinished(ctx context.Context, p *store.JobDeleteFinishedParams) (int, error) {
	s.c.hit("clean")
	return s.Store.JobDeleteFinished(ctx, p)
}

func (s countedSQLite) JobResolvePending(ctx context.Context, p *store.JobResolvePendingParams) ([]*kilntype.JobRow, error) {
	s.c.hit("resolve")
	return s.Store.JobResolvePending(ctx, p)
}

func (s countedSQLite) JobStatsFold(ctx context.Context, p *store.JobStatsFoldParams) (int, error) {
	s.c.hit("stats fold")
	return s.Store.JobStatsFold(ctx, p)
}

func (s countedSQLite) ServerDeleteStale(ctx context.Context, params *store.ServerDeleteStaleParams) ([]string, error) {
	s.c.hit("reap servers")
	return s.Store.ServerDeleteStale(ctx, params)
}

func (s countedSQLite) RecurringNextDue(ctx context.Context) (time.Time, bool, error) {
	s.c.hit("recurring next due")
	return s.Store.RecurringNextDue(ctx)
}

func (s countedSQLite) LeaderAttemptElect(ctx context.Context, p *store.LeaderElectParams) (bool, error) {
	ok, err := s.Store.LeaderAttemptElect(ctx, p)
	s.c.elected(p, ok, err)
	return ok, err
}

type countedPostgres struct {
	*postgres.Store
	c *calls
}

func (s countedPostgres) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	s.c.hit("claim")
	return s.Store.JobClaim(ctx, p)
}

func (s countedPostgres) JobScheduleDue(ctx context.Context, p *store.JobScheduleDueParams) (int, error) {
	s.c.hit("schedule due")
	return s.Store.JobScheduleDue(ctx, p)
}

func (s countedPostgres) JobRescueExpired(ctx context.Context, p *store.JobRescueExpiredParams) ([]*kilntype.JobRow, error) {
	s.c.hit("rescue")
	return s.Store.JobRescueExpired(ctx, p)
}

func (s countedPostgres) JobDeleteFinished(ctx context.Context, p *store.JobDeleteFinishedParams) (int, error) {
	s.c.hit("clean")
	return s.Store.JobDeleteFinished(ctx, p)
}

func (s countedPostgres) JobResolvePending(ctx context.Context, p *store.JobResolvePendingParams) ([]*kilntype.JobRow, error) {
	s.c.hit("resolve")
	return s.Store.JobResolvePending(ctx, p)
}

func (s countedPostgres) JobStatsFold(ctx context.Context, p *store.JobStatsFoldParams) (int, error) {
	s.c.hit("stats fold")
	return s.Store.JobStatsFold(ctx, p)
}

func (s countedPostgres) ServerDeleteStale(ctx context.Context, params *store.ServerDeleteStaleParams) ([]string, error) {
	s.c.hit("reap servers")
	return s.Store.ServerDeleteStale(ctx, params)
}

func (s countedPostgres) RecurringNextDue(ctx context.Context) (time.Time, bool, error) {
	s.c.hit("recurring next due")
	return s.Store.RecurringNextDue(ctx)
}

func (s countedPostgres) LeaderAttemptElect(ctx context.Context, p *store.LeaderElectParams) (bool, error) {
	ok, err := s.Store.LeaderAttemptElect(ctx, p)
	s.c.elected(p, ok, err)
	return ok, err
}
