package postgres_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/storetest"
)

// TestMigrateCountsExistingJobs removes migration 007 from a schema that
// holds jobs, as if it predated it, and checks that migrating again counts
// them.
func TestMigrateCountsExistingJobs(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	storetest.CheckMigratedCounts(t, s, func() {
		if _, err := s.Pool().Exec(t.Context(), strings.ReplaceAll(`DROP FUNCTION {s}.kiln_job_stats() CASCADE;
			DROP FUNCTION {s}.kiln_job_stats_truncate() CASCADE;
			DROP TABLE {s}.kiln_job_count, {s}.kiln_job_count_delta, {s}.kiln_job_history, {s}.kiln_job_queue_history;
			DELETE FROM {s}.kiln_migration WHERE version = 7`, "{s}", pgx.Identifier{s.Schema()}.Sanitize())); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCountedMarkEndsWithItsStatement checks that the mark of a statement
// that writes its own counter deltas (sqlCountedMark, migration 019) skips
// the counters' UPDATE trigger for that statement only: after a marked
// statement, the UPDATEs of the same transaction, by hand or by the
// Store's own non-hot statements, are counted; and the claim and finish
// in between count themselves once.
func TestCountedMarkEndsWithItsStatement(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	q := strings.NewReplacer("{s}", pgx.Identifier{s.Schema()}.Sanitize())
	now := time.Now().UTC()
	job := func() *store.JobInsertParams {
		return &store.JobInsertParams{Kind: "k", Queue: "q", Args: json.RawMessage(`{}`), Priority: 1, MaxAttempts: 3,
			State: kilntype.JobStateAvailable, ScheduledAt: now, CreatedAt: now}
	}
	res, err := s.JobInsertMany(ctx, []*store.JobInsertParams{job(), job(), job()})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: 1, AnyKind: true, LeasedBy: "p",
		LeaseExpiresAt: now.Add(time.Minute), Now: now})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("JobClaim = %d jobs, %v; want 1", len(claimed), err)
	}
	if _, err := s.JobFinishMany(ctx, []*store.JobFinishParams{{ID: claimed[0].ID, LeasedBy: "p",
		State: kilntype.JobStateCompleted, Now: now, AttemptedAt: *claimed[0].AttemptedAt,
		Attempt: kilntype.JobAttempt{JobID: claimed[0].ID, Attempt: 1, StartedAt: *claimed[0].AttemptedAt,
			FinishedAt: &now, Server: "p", Outcome: kilntype.AttemptSucceeded}}}); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, stmt := range []string{
		// A marked statement that moves nothing, as a claim that finds no
		// job is, then UPDATEs that the trigger must count.
		`UPDATE {s}.kiln_job SET state = 'running' WHERE ` + postgres.SQLCountedMarkForTest + ` AND id = -$1::bigint`,
		`UPDATE {s}.kiln_job SET queue = 'moved' WHERE id = $1`,
		`UPDATE {s}.kiln_job SET state = 'cancelled', finalized_at = now() WHERE id = $1::bigint + 1`,
	} {
		if _, err := tx.Exec(ctx, q.Replace(stmt), res[1].Job.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	counts, err := s.JobCountByQueueState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.Pool().Query(ctx, q.Replace(`SELECT queue, state, count(*) FROM {s}.kiln_job
		GROUP BY queue, state ORDER BY queue COLLATE "C", state COLLATE "C"`))
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.JobCount, error) {
		var c store.JobCount
		err := r.Scan(&c.Queue, &c.State, &c.Count)
		return c, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []store.JobCount
	for _, c := range counts {
		if c.Count != 0 {
			got = append(got, store.JobCount{Queue: c.Queue, State: c.State, Count: c.Count})
		}
	}
	if !slices.Equal(got, want) || len(want) != 3 {
		t.Errorf("JobCountByQueueState =\n%v\ncount(*) says (3 pairs)\n%v", got, want)
	}
}
