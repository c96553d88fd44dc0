package postgres_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// TestRunningJobsLockedInIDOrder checks that JobLeaseRenew and
// JobFinishMany lock the rows of several running jobs in ID order, whatever
// order they are given in, so that a renewal and a finish of the same jobs
// cannot deadlock (each holding a job the other waits for). For each, an
// outside transaction holds the higher of two jobs; the statement, given
// the higher job first, must lock the lower one before it waits for the
// higher one.
func TestRunningJobsLockedInIDOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, s *postgres.Store, ids []int64) (int, error)
	}{
		{"JobLeaseRenew", func(ctx context.Context, s *postgres.Store, ids []int64) (int, error) {
			renewed, err := s.JobLeaseRenew(ctx, &store.JobLeaseRenewParams{LeasedBy: "p", IDs: ids,
				LeaseExpiresAt: base.Add(2 * time.Minute), Now: base.Add(time.Minute)})
			return len(renewed), err
		}},
		{"JobFinishMany", func(ctx context.Context, s *postgres.Store, ids []int64) (int, error) {
			var params []*store.JobFinishParams
			for _, id := range ids {
				params = append(params, &store.JobFinishParams{ID: id, LeasedBy: "p", State: kilntype.JobStateCompleted,
					Now: base, Attempt: kilntype.JobAttempt{Attempt: 1, StartedAt: base, Server: "p",
						Outcome: kilntype.AttemptSucceeded}})
			}
			moved, err := s.JobFinishMany(ctx, params)
			return len(moved), err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := newStore(t)
			admin := pgtest.Admin(t)
			low, high := runningPair(t, s)

			holder, holderPID := holdRow(t, s, high)
			done := make(chan error, 1)
			go func() {
				n, err := tc.run(ctx, s, []int64{high, low})
				if err == nil && n != 2 {
					err = errors.New("it did not apply to both jobs")
				}
				done <- err
			}()
			waitFor(t, "the statement to wait for the higher job", func() bool {
				var n int
				err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1::integer = ANY(pg_blocking_pids(pid))`,
					holderPID).Scan(&n)
				if err != nil {
					t.Fatal(err)
				}
				return n > 0
			})
			lowLocked := isLocked(t, admin, s, low)
			if err := holder.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if !lowLocked {
				t.Errorf("%s waited for job %d without holding job %d: it does not lock in ID order", tc.name, high, low)
			}
		})
	}
}

// runningPair inserts jobs into s and claims 1000 of them, as process "p",
// then analyzes the table, so that the planner knows running jobs to be
// many, as in a busy database (it then finds a batch's jobs by primary key,
// in the order given, rather than by reading every running job). It
// returns the IDs of the first two claimed jobs, lower first.
func runningPair(t *testing.T, s *postgres.Store) (low, high int64) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.JobInsertMany(ctx, jobParams(3000)); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: 1000, AnyKind: true, LeasedBy: "p",
		LeaseExpiresAt: base.Add(time.Minute), Now: base})
	if err != nil || len(claimed) != 1000 {
		t.Fatalf("JobClaim = %d jobs, %v; want 1000", len(claimed), err)
	}
	if _, err := s.Pool().Exec(ctx, `ANALYZE `+pgx.Identifier{s.Schema(), "kiln_job"}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return claimed[0].ID, claimed[1].ID
}

// holdRow locks job id (FOR NO KEY UPDATE, as an UPDATE does) in a
// transaction of its own, which the caller ends (or the test's end rolls
// back), and returns it with its backend's PID.
func holdRow(t *testing.T, s *postgres.Store, id int64) (pgx.Tx, uint32) {
	t.Helper()
	ctx := t.Context()
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	var pid uint32
	err = tx.QueryRow(ctx, `SELECT pg_backend_pid() FROM `+pgx.Identifier{s.Schema(), "kiln_job"}.Sanitize()+
		` WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&pid)
	if err != nil {
		t.Fatal(err)
	}
	return tx, pid
}

// isLocked reports whether another transaction holds job id with a lock
// that conflicts with FOR NO KEY UPDATE (that of an UPDATE), trying it
// with NOWAIT.
func isLocked(t *testing.T, admin *pgxpool.Pool, s *postgres.Store, id int64) bool {
	t.Helper()
	ctx := t.Context()
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, `SELECT FROM `+pgx.Identifier{s.Schema(), "kiln_job"}.Sanitize()+
		` WHERE id = $1 FOR NO KEY UPDATE NOWAIT`, id)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return false
	case errors.As(err, &pgErr) && pgErr.Code == "55P03": // lock_not_available
		return true
	}
	t.Fatal(err)
	return false
}

// waitFor is testutil.Eventually: it polls cond until it holds.
var waitFor = testutil.Eventually

// TestFinishRacesWithoutDeadlock races, round after round, a finish of a
// batch of running jobs (given in a shuffled order) against a renewal of
// their leases (given in reverse ID order) and a bulk cancel of them (a
// cancel request for each running job), all of one process's jobs at
// once, and checks that none fails: two statements that lock the same
// rows in different orders deadlock, and PostgreSQL aborts one of them
// with SQLSTATE 40P01 after deadlock_timeout. Before each round the leases
// of the lower half are renewed once, so that their rows' current
// versions lie after the upper half's in the table (a plan that reads the
// table in its physical order meets them in another order than their
// IDs').
func TestFinishRacesWithoutDeadlock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	const rounds, batch = 12, 200
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range rounds {
		if _, err := s.JobInsertMany(ctx, jobParams(batch)); err != nil {
			t.Fatal(err)
		}
		claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: batch, AnyKind: true, LeasedBy: "p",
			LeaseExpiresAt: base.Add(time.Minute), Now: base})
		if err != nil || len(claimed) != batch {
			t.Fatalf("JobClaim = %d jobs, %v; want %d", len(claimed), err, batch)
		}
		ids := make([]int64, batch)
		for i, j := range claimed {
			ids[i] = j.ID
		}
		slices.Sort(ids)
		if _, err := s.JobLeaseRenew(ctx, &store.JobLeaseRenewParams{LeasedBy: "p", IDs: ids[:batch/2],
			LeaseExpiresAt: base.Add(2 * time.Minute), Now: base}); err != nil {
			t.Fatal(err)
		}
		if round == rounds/2 {
			if _, err := s.Pool().Exec(ctx, `ANALYZE `+pgx.Identifier{s.Schema(), "kiln_job"}.Sanitize()); err != nil {
				t.Fatal(err)
			}
		}
		op, err := s.BulkCreate(ctx, &store.BulkCreateParams{Action: kilntype.BulkCancel, Owner: "p", Now: base,
			Filter: kilntype.JobFilter{States: []kilntype.JobState{kilntype.JobStateRunning}}})
		if err != nil {
			t.Fatal(err)
		}
		finish := make([]*store.JobFinishParams, batch)
		for i, j := range claimed {
			finish[i] = &store.JobFinishParams{ID: j.ID, LeasedBy: "p", AttemptedAt: *j.AttemptedAt,
				State: kilntype.JobStateCompleted, Now: base, Attempt: kilntype.JobAttempt{Attempt: j.Attempt,
					StartedAt: base, Server: "p", Outcome: kilntype.AttemptSucceeded}}
		}
		rng.Shuffle(batch, func(i, k int) { finish[i], finish[k] = finish[k], finish[i] })
		reversed := slices.Clone(ids)
		slices.Reverse(reversed)

		start := make(chan struct{})
		errs := make(chan error, 3)
		var moved []int64
		go func() {
			<-start
			var err error
			moved, err = s.JobFinishMany(ctx, finish)
			errs <- err
		}()
		go func() {
			<-start
			_, err := s.JobLeaseRenew(ctx, &store.JobLeaseRenewParams{LeasedBy: "p", IDs: reversed,
				LeaseExpiresAt: base.Add(3 * time.Minute), Now: base})
			errs <- err
		}()
		go func() {
			<-start
			_, err := s.BulkRunBatch(ctx, &store.BulkRunBatchParams{ID: op.ID, Owner: "p", Now: base,
				Limit: 10 * batch, Window: 1 << 40})
			errs <- err
		}()
		close(start)
		for range 3 {
			if err := <-errs; err != nil {
				var pgErr *pgconn.PgError
				if errors.As(err, &pgErr) && pgErr.Code == "40P01" {
					t.Fatalf("round %d: deadlock: %v", round, err)
				}
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if len(moved) != batch {
			t.Fatalf("round %d: JobFinishMany completed %d jobs, want %d", round, len(moved), batch)
		}
	}
}
