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

// polled holds the polling methods counting counts: the ones an idle
// client calls on a timer.
type polled interface {
	JobClaim(context.Context, *store.JobClaimParams) ([]*kilntype.JobRow, error)
	JobScheduleDue(context.Context, *store.JobScheduleDueParams) (int, error)
	JobRescueExpired(context.Context, *store.JobRescueExpiredParams) ([]*kilntype.JobRow, error)
	JobDeleteFinished(context.Context, *store.JobDeleteFinishedParams) (int, error)
	JobResolvePending(context.Context, *store.JobResolvePendingParams) ([]*kilntype.JobRow, error)
	JobStatsFold(context.Context, *store.JobStatsFoldParams) (int, error)
	ServerDeleteStale(context.Context, *store.ServerDeleteStaleParams) ([]string, error)
	RecurringNextDue(context.Context) (time.Time, bool, error)
	LeaderAttemptElect(context.Context, *store.LeaderElectParams) (bool, error)
}

// countedSQLite and countedPostgres are the stores with their polling
// methods counted; every other method, and every optional interface, is
// the store's own. The store sits one level deeper (sqliteStore,
// postgresStore) than counting, so counting's methods win over the
// store's of the same name.
type countedSQLite struct {
	sqliteStore
	counting
}

type sqliteStore struct{ *sqlite.Store }

func newCountedSQLite(s *sqlite.Store, c *calls) countedSQLite {
	return countedSQLite{sqliteStore{s}, counting{s, c}}
}

type countedPostgres struct {
	postgresStore
	counting
}

type postgresStore struct{ *postgres.Store }

func newCountedPostgres(s *postgres.Store, c *calls) countedPostgres {
	return countedPostgres{postgresStore{s}, counting{s, c}}
}

// counting counts the calls of inner's polling methods in c.
type counting struct {
	inner polled
	c     *calls
}

func (s counting) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	s.c.hit("claim")
	return s.inner.JobClaim(ctx, p)
}

func (s counting) JobScheduleDue(ctx context.Context, p *store.JobScheduleDueParams) (int, error) {
	s.c.hit("schedule due")
	return s.inner.JobScheduleDue(ctx, p)
}

func (s counting) JobRescueExpired(ctx context.Context, p *store.JobRescueExpiredParams) ([]*kilntype.JobRow, error) {
	s.c.hit("rescue")
	return s.inner.JobRescueExpired(ctx, p)
}

func (s counting) JobDeleteFinished(ctx context.Context, p *store.JobDeleteFinishedParams) (int, error) {
	s.c.hit("clean")
	return s.inner.JobDeleteFinished(ctx, p)
}

func (s counting) JobResolvePending(ctx context.Context, p *store.JobResolvePendingParams) ([]*kilntype.JobRow, error) {
	s.c.hit("resolve")
	return s.inner.JobResolvePending(ctx, p)
}

func (s counting) JobStatsFold(ctx context.Context, p *store.JobStatsFoldParams) (int, error) {
	s.c.hit("stats fold")
	return s.inner.JobStatsFold(ctx, p)
}

func (s counting) ServerDeleteStale(ctx context.Context, params *store.ServerDeleteStaleParams) ([]string, error) {
	s.c.hit("reap servers")
	return s.inner.ServerDeleteStale(ctx, params)
}

func (s counting) RecurringNextDue(ctx context.Context) (time.Time, bool, error) {
	s.c.hit("recurring next due")
	return s.inner.RecurringNextDue(ctx)
}

func (s counting) LeaderAttemptElect(ctx context.Context, p *store.LeaderElectParams) (bool, error) {
	ok, err := s.inner.LeaderAttemptElect(ctx, p)
	s.c.elected(p, ok, err)
	return ok, err
}
