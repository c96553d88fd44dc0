package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestClaimRateClockAfterLock checks that the one-trip claim of a
// rate-limited kind on the database's clock (no CallerClock) charges its
// budget from a time after the kinds' lock was granted, in every pgx
// execution mode: GCRA's theoretical arrival time after n jobs started at
// T is at least T + n × Interval. Under the simple protocol a batch is one
// Query message, whose statement_timestamp() is the time it arrived,
// before the lock's wait: the budget was charged from before the wait
// and the jobs started after it cost nothing (found by review).
func TestClaimRateClockAfterLock(t *testing.T) {
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := t.Context()
			base := NewForTest(t)
			rec := &statementRecorder{}
			s := storeOnPoolForTest(t, base, &Options{}, func(cfg *pgxpool.Config) { // the database's clock
				cfg.ConnConfig.Tracer = rec
				cfg.ConnConfig.DefaultQueryExecMode = mode
			})
			pool := s.pool
			insertRated(t, base, time.Now(), 100)
			limit := kilntype.RateLimit{Limit: 100, Period: time.Second, Burst: 50} // an interval of 10 ms
			claim := func(ctx context.Context) ([]*kilntype.JobRow, error) {
				return s.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: 10, Kinds: []string{"t"},
					LeasedBy: "proc", Now: time.Now(), LeaseExpiresAt: time.Now().Add(time.Hour),
					RateLimits: map[string]kilntype.RateLimit{"t": limit}})
			}
			// The usual way first: it finds an allowance of more than
			// twice Max, after which claims take one trip.
			if jobs, err := claim(ctx); err != nil || len(jobs) != 10 {
				t.Fatalf("first claim: %d jobs, %v", len(jobs), err)
			}
			// A full bucket: the next claim's budget is its own start.
			if _, err := pool.Exec(ctx, s.sql(`UPDATE {s}.kiln_rate_limit_state
				SET tat = clock_timestamp() - interval '1 hour' WHERE kind = 't'`)); err != nil {
				t.Fatal(err)
			}
			rec.take()

			// Another process holds the kind's lock while the claim waits.
			locker, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer locker.Release()
			lockKey := "kiln/" + s.schema
			if _, err := locker.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1 || '/' || 't', 0))`, lockKey); err != nil {
				t.Fatal(err)
			}
			type result struct {
				n   int
				err error
			}
			done := make(chan result, 1)
			go func() {
				jobs, err := claim(context.Background())
				done <- result{len(jobs), err}
			}()
			waiting := false
			for deadline := time.Now().Add(30 * time.Second); !waiting && time.Now().Before(deadline); {
				// Waiting for 50 ms at least: a budget charged from before
				// the wait would then be that much short.
				if err := locker.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
					WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND datname = current_database()
						AND clock_timestamp() - query_start >= interval '50 ms')`).Scan(&waiting); err != nil {
					t.Fatal(err)
				}
			}
			if !waiting {
				t.Fatal("the claim never waited for the kind's lock")
			}
			// The database's time before the release, while the claim
			// waits: the claim's clock, read after the lock, is not
			// before it. (Read in the unlock's statement, after the
			// release, it could be later than the claim's: the claim's
			// backend may run first on a loaded machine.)
			var released time.Time
			if err := locker.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&released); err != nil {
				t.Fatal(err)
			}
			if _, err := locker.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1 || '/' || 't', 0))`, lockKey); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if r.err != nil || r.n != 10 {
				t.Fatalf("claim after the lock: %d jobs, %v; want 10", r.n, r.err)
			}
			oneTrip := false
			for _, q := range rec.take() {
				oneTrip = oneTrip || (strings.Contains(q, "kiln.claim_plain") && strings.Contains(q, "kiln_rate_limit_state"))
			}
			if !oneTrip {
				t.Fatal("the claim after the lock did not take the one-trip path")
			}
			var tat time.Time
			if err := pool.QueryRow(ctx, s.sql(`SELECT tat FROM {s}.kiln_rate_limit_state WHERE kind = 't' AND NOT per_key`)).Scan(&tat); err != nil {
				t.Fatal(err)
			}
			if want := released.Add(10 * limit.Interval()); tat.Before(want) {
				t.Errorf("budget's TAT after 10 jobs is %v, %v after the lock's release; want at least %v after it",
					tat, tat.Sub(released), 10*limit.Interval())
			}
		})
	}
}

// cancelAfterBatch is a pgx tracer that, once armed, calls cancel when a
// batch ends, so that a claim's next batch fails.
type cancelAfterBatch struct {
	statementRecorder
	armed  bool
	cancel context.CancelFunc
}

func (c *cancelAfterBatch) arm(cancel context.CancelFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed, c.cancel = true, cancel
}

func (c *cancelAfterBatch) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed {
		c.cancel()
	}
}

// TestClaimSecondBatchError checks that a claim on the pool that started
// past the Store's mark, came back short and failed in its second batch
// from the front returns the jobs of its first batch, which committed on
// its own and are running and leased to it, instead of an error that left
// them to the rescuer (found by review): the plain claim and the one-trip
// claim of a rate-limited kind.
func TestClaimSecondBatchError(t *testing.T) {
	for _, rated := range []bool{false, true} {
		name := "plain"
		if rated {
			name = "rate limited"
		}
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := NewForTest(t)
			tr := &cancelAfterBatch{}
			traced := tracedForTest(t, s, tr)
			now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
			insertRated(t, s, now, 25)
			claim := func(ctx context.Context, by string) ([]*kilntype.JobRow, error) {
				p := &store.JobClaimParams{Queue: "q", Max: 10, Kinds: []string{"t"},
					LeasedBy: by, Now: now, LeaseExpiresAt: now.Add(time.Hour)}
				if rated {
					p.RateLimits = map[string]kilntype.RateLimit{"t": {Limit: 1000, Period: time.Second, Burst: 1000}}
				}
				return traced.JobClaim(ctx, p)
			}
			// Two claims of 10 leave the mark past the 20th job (the first
			// of a rate-limited kind the usual way, the second in one trip).
			for i := range 2 {
				if jobs, err := claim(ctx, "proc"); err != nil || len(jobs) != 10 {
					t.Fatalf("claim %d: %d jobs, %v", i+1, len(jobs), err)
				}
			}
			// A job before the mark: the next claim past it finds 5 jobs,
			// short of 10, and goes on from the front in a second batch.
			if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
				max_attempts, created_at, scheduled_at) VALUES ('t', 'q', '{}', 'available', 0, 1, $1, $1)`), now.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			tr.arm(cancel)
			jobs, err := claim(cctx, "victim")
			var running int
			if err := s.pool.QueryRow(ctx, s.expand(`SELECT count(*) FROM {s}.kiln_job
				WHERE state = 'running' AND leased_by = 'victim'`)).Scan(&running); err != nil {
				t.Fatal(err)
			}
			if err != nil || len(jobs) != 5 || running != 5 {
				t.Errorf("claim whose second batch failed: %d jobs, error %v; %d running leased to it; want 5, no error, 5",
					len(jobs), err, running)
			}
		})
	}
}
