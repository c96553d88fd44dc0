package kiln_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// countingStore is a store of any kind that counts the claims made through it.
type countingStore struct {
	store.Store
	claims atomic.Int64
}

func (s *countingStore) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*kiln.JobRow, error) {
	rows, err := s.Store.JobClaim(ctx, p)
	s.claims.Add(1)
	return rows, err
}

// maxStartsInWindow returns the most of starts (sorted) within any
// half-open window of length period.
func maxStartsInWindow(starts []time.Time, period time.Duration) int {
	most, lo := 0, 0
	for hi := range starts {
		for !starts[hi].Before(starts[lo].Add(period)) {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

// rateCluster is one client per store (processes sharing one database)
// on one injected clock, each counting the claims it makes, for the
// cluster-wide rate-limit tests.
type rateCluster struct {
	clock    *kilntest.Clock
	clients  []*kiln.Client
	counters []*countingStore
}

// startRateCluster starts a client on each of stores, with the workers
// that add registers, 8 workers in the default queue, fast polling on
// clock and retries an hour apart (a job over budget that ran and failed
// would show as a second attempt).
func startRateCluster(t *testing.T, stores []store.Store, clock *kilntest.Clock, add func(*kiln.Workers)) *rateCluster {
	t.Helper()
	rc := &rateCluster{clock: clock}
	for _, st := range stores {
		workers := kiln.NewWorkers()
		add(workers)
		cc := &countingStore{Store: st}
		rc.counters = append(rc.counters, cc)
		rc.clients = append(rc.clients, startClient(t, &kiln.Config{
			Store: cc, Workers: workers, Clock: clock,
			FetchPollInterval: 5 * time.Millisecond, CancelPollInterval: 10 * time.Millisecond,
			ScheduleInterval: 10 * time.Millisecond, RescueInterval: 10 * time.Millisecond,
			LeaderTTL: 10 * time.Second, RetryPolicy: fixedBackoff(time.Hour),
			Queues: map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: 8}},
		}))
	}
	return rc
}

// advanceUntil moves the clock by step at a time, each time once every
// client has claimed twice since the last move (so that each has seen
// the new time), until done has reached want; it fails after maxSteps
// moves.
func (rc *rateCluster) advanceUntil(t *testing.T, step time.Duration, maxSteps int, done *atomic.Int64, want int64) {
	t.Helper()
	for moves := 0; done.Load() < want; moves++ {
		if moves > maxSteps {
			t.Fatalf("%d of %d jobs ran after %d moves of the clock", done.Load(), want, moves)
		}
		before := make([]int64, len(rc.counters))
		for i, cc := range rc.counters {
			before[i] = cc.claims.Load()
		}
		rc.clock.Advance(step)
		testutil.Eventually(t, "every client claiming twice", func() bool {
			for i, cc := range rc.counters {
				if cc.claims.Load() < before[i]+2 {
					return false
				}
			}
			return true
		})
	}
}

// starts waits for each job of ids to complete and returns their attempt
// times, sorted; it fails if one made more than one attempt (a job over
// budget is never run and failed).
func (rc *rateCluster) starts(t *testing.T, ids []int64) []time.Time {
	t.Helper()
	var starts []time.Time
	for _, id := range ids {
		row := clienttest.WaitState(t, rc.clients[0], id, kiln.JobStateCompleted)
		if row.Attempt != 1 {
			t.Fatalf("job %d made %d attempts; want 1 (a job over budget is never run and failed)", id, row.Attempt)
		}
		starts = append(starts, *row.AttemptedAt)
	}
	slices.SortFunc(starts, time.Time.Compare)
	return starts
}

// callerClockPostgres opens n stores (n processes) on one new PostgreSQL
// schema, the first migrating it, each with 4 connections and the
// callers' clock for budgets and leases (CallerClock), so that a test can
// move the time they all see.
func callerClockPostgres(t *testing.T, n int) []store.Store {
	t.Helper()
	url := pgtest.URL(t)
	schema := pgtest.Schema(t)
	var stores []store.Store
	for i := range n {
		st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema, MaxConns: 4,
			Migrate: i == 0, CallerClock: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		stores = append(stores, st)
	}
	return stores
}
