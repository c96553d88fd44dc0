package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPartitionInOrderChangedAfterSnapshot checks the in-order claim under
// a per-key limit of 1 (sqlPartitionInOrderOne) when another transaction
// changes a job after the claim statement's snapshot is taken and before
// the claim locks it, leaving it available: the lock takes the job's newest
// version, which the snapshot does not see, so the UPDATE by row address
// does not claim it. The claim must then return only the jobs it moved to
// running, the counters must move by those alone (JobCountRebuild finds
// nothing to correct), and the job must stay available for the next claim.
//
// The order is made deterministic by a lock that the claim statement waits
// for after its snapshot: another session holds kiln_job_claim_kind's
// ACCESS EXCLUSIVE lock (ALTER INDEX ... SET TABLESPACE to the index's own
// tablespace: no change, and no lock of the table), which the statement's
// generic plan, made by an earlier execution on the same connection, takes
// only when the executor starts, after the snapshot (a plan made at that
// execution would take it while planning, before the snapshot). That
// session changes the job and commits, releasing the lock.
func TestPartitionInOrderChangedAfterSnapshot(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claimer := conn.Hijack() // its prepared statement and generic plan must not go back to the pool
	defer claimer.Close(context.Background())
	var pid int
	if err := claimer.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	// claim runs the in-order claim of up to n jobs of kind as
	// partitionRounds.InOrder does (its settings, then the statement, in
	// one transaction) and returns the IDs it claimed.
	claim := func(kind string, n int) ([]int64, error) {
		tx, err := claimer.Begin(ctx)
		if err != nil {
			return nil, err
		}
		defer func() { _ = tx.Rollback(context.Background()) }()
		if _, err := tx.Exec(ctx, sqlRoundSettings, []string{kind}, "kiln/"+s.schema); err != nil {
			return nil, err
		}
		rows, err := tx.Query(ctx, s.sql(sqlPartitionInOrderOne), "q", kind, now, n, 4*n, 1, "p", nil, time.Minute,
			int32(math.MinInt32), now, int64(0), 4*n)
		if err != nil {
			return nil, err
		}
		var got []int64
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				return nil, err
			}
			got = append(got, vals[0].(int64))
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		slices.Sort(got)
		return got, tx.Commit(ctx)
	}
	exact := func(when string) {
		t.Helper()
		if fixed, err := s.JobCountRebuild(ctx); err != nil {
			t.Fatal(err)
		} else if len(fixed) != 0 {
			t.Errorf("counters corrected %s: %+v; want none (counted counts the jobs claimed)", when, fixed)
		}
	}
	// attempt runs the interleaving once with three new jobs of kind and
	// reports whether the claim's snapshot came before the change. It may
	// not: when the claim's cached plan is invalidated meanwhile (a reset
	// of the server's invalidation queue, which a busy server with many
	// schemas made and dropped by other tests can cause), the statement is
	// planned again at its execution and waits for the index's lock while
	// planning, before its snapshot. The claim then sees the changed job
	// and claims it, as any claim after the change would: correct too, but
	// not the case under test, so the caller tries again.
	attempt := func(kind string) bool {
		rows, err := s.pool.Query(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt,
	max_attempts, created_at, scheduled_at, partition_key)
SELECT $2, 'q', '{}', 'available', 1, 0, 25, $1::timestamptz, $1::timestamptz - g * interval '1 second', 'key' || g FROM generate_series(1, 3) AS g
RETURNING id`), now, kind)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		if _, err := s.JobCountRebuild(ctx); err != nil { // counters exact from here on
			t.Fatal(err)
		}
		// The first execution makes the generic plan (sqlRoundSettings
		// forces one) and claims nothing.
		if got, err := claim(kind, 0); err != nil || len(got) != 0 {
			t.Fatalf("claim of 0: %v, %v", got, err)
		}
		other, err := s.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = other.Rollback(context.Background()) }()
		if _, err := other.Exec(ctx, s.expand(`ALTER INDEX {s}.kiln_job_claim_kind SET TABLESPACE pg_default`)); err != nil {
			t.Fatal(err)
		}
		type result struct {
			ids []int64
			err error
		}
		done := make(chan result, 1)
		go func() {
			ids, err := claim(kind, 10)
			done <- result{ids, err}
		}()
		// Wait until the claim statement waits for the index's lock.
		for {
			var waiting bool
			if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_locks
			WHERE pid = $1 AND NOT granted AND locktype = 'relation')`, pid).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
			if waiting {
				break
			}
			select {
			case r := <-done:
				t.Fatalf("the claim ended before it waited for the index: %v, %v", r.ids, r.err)
			default:
			}
		}
		// The job first in claim order changes (and stays available)
		// after the claim's snapshot.
		if _, err := other.Exec(ctx, s.expand(`UPDATE {s}.kiln_job SET metadata = '{"changed": true}' WHERE id = $1`), ids[2]); err != nil {
			t.Fatal(err)
		}
		if err := other.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil {
			t.Fatal(r.err)
		}
		exact("after the claim")
		if slices.Equal(r.ids, ids) {
			t.Logf("%s: the claim's snapshot came after the change (planned again): it claimed all three", kind)
			return false
		}
		// ids[2] (scheduled 3 s before now) is first in claim order; the
		// claim locked its new version and did not claim it.
		if want := ids[:2]; !slices.Equal(r.ids, want) {
			t.Errorf("claimed %v, want %v (not %d, changed after the snapshot)", r.ids, want, ids[2])
		}
		var state string
		if err := s.pool.QueryRow(ctx, s.expand(`SELECT state FROM {s}.kiln_job WHERE id = $1`), ids[2]).Scan(&state); err != nil {
			t.Fatal(err)
		}
		if state != "available" {
			t.Errorf("job %d changed after the snapshot is %s, want available", ids[2], state)
		}
		// The next claim takes it.
		got, err := claim(kind, 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := ids[2:]; !slices.Equal(got, want) {
			t.Errorf("next claim took %v, want %v", got, want)
		}
		exact("after the second claim")
		return true
	}
	const attempts = 5
	for i := range attempts {
		if attempt(fmt.Sprintf("k%d", i)) {
			return
		}
	}
	t.Fatalf("in %d attempts the claim's snapshot never came before the change: the case was not tested", attempts)
}
