package postgres_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
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

// TestCountRebuild checks that an UPDATE by hand, which no trigger counts
// since migration 021, leaves the counters wrong until JobCountRebuild
// corrects them (storetest.CheckCountRebuild).
func TestCountRebuild(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	q := strings.NewReplacer("{s}", pgx.Identifier{s.Schema()}.Sanitize())
	storetest.CheckCountRebuild(t, s, func(queue string) {
		if _, err := s.Pool().Exec(t.Context(), q.Replace(`UPDATE {s}.kiln_job SET queue = queue || '-by-hand'
			WHERE id = (SELECT min(id) FROM {s}.kiln_job WHERE queue = $1)`), queue); err != nil {
			t.Fatal(err)
		}
	})
}

// TestNoUpdateTrigger checks that no trigger fires for an UPDATE of
// kiln_job (migration 021), so that PostgreSQL collects no transition
// tables for one, and that the counters' INSERT, DELETE and TRUNCATE
// triggers remain.
func TestNoUpdateTrigger(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	rows, err := s.Pool().Query(t.Context(), `SELECT t.tgname,
			(t.tgtype & 4) <> 0, (t.tgtype & 8) <> 0, (t.tgtype & 16) <> 0, (t.tgtype & 32) <> 0
		FROM pg_catalog.pg_trigger AS t JOIN pg_catalog.pg_class AS c ON c.oid = t.tgrelid
		JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = 'kiln_job' AND NOT t.tgisinternal ORDER BY t.tgname`, s.Schema())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var name string
	var insert, del, update, truncate bool
	if _, err := pgx.ForEachRow(rows, []any{&name, &insert, &del, &update, &truncate}, func() error {
		names = append(names, name)
		if update {
			t.Errorf("trigger %s fires on UPDATE of kiln_job", name)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kiln_job_stats_delete", "kiln_job_stats_insert", "kiln_job_stats_truncate"} {
		if !slices.Contains(names, want) {
			t.Errorf("triggers of kiln_job: %v, want %s among them", names, want)
		}
	}
}

// TestHotStatementsDeltaRows checks the counter deltas that a claim and a
// completion append in their own statements (their counted CTEs): one row
// per state changed, with the whole batch's count, and none for a claim
// that takes nothing (an idle poll), so that kiln_job_count_delta grows by
// at most two or three rows per batch, however many jobs it moves.
func TestHotStatementsDeltaRows(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	q := strings.NewReplacer("{s}", pgx.Identifier{s.Schema()}.Sanitize())
	type delta struct {
		Queue, State   string
		Jobs, Finished int64
	}
	// deltas returns the rows appended since the last call, by state.
	deltas := func() []delta {
		t.Helper()
		rows, err := s.Pool().Query(ctx, q.Replace(`DELETE FROM {s}.kiln_job_count_delta
			RETURNING queue, state, jobs, finished`))
		if err != nil {
			t.Fatal(err)
		}
		ds, err := pgx.CollectRows(rows, pgx.RowToStructByPos[delta])
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ds, func(a, b delta) int { return strings.Compare(a.State, b.State) })
		return ds
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var ps []*store.JobInsertParams
	for i := range 5 {
		p := &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
			State: kilntype.JobStateAvailable, ScheduledAt: now, CreatedAt: now}
		if i >= 3 { // due scheduled jobs: the claim reads them from its waiting CTE
			p.State, p.ScheduledAt = kilntype.JobStateScheduled, now.Add(-time.Second)
		}
		ps = append(ps, p)
	}
	if _, err := s.JobInsertMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	deltas()

	claim := &store.JobClaimParams{Queue: "q", Max: 10, LeasedBy: "w", Kinds: []string{"k"},
		LeaseExpiresAt: now.Add(time.Minute), Now: now}
	idle := *claim
	idle.Queue = "idle"
	if rows, err := s.JobClaim(ctx, &idle); err != nil || len(rows) != 0 {
		t.Fatalf("claim of an empty queue = %d jobs, %v", len(rows), err)
	}
	if got := deltas(); len(got) != 0 {
		t.Errorf("deltas of a claim that took nothing = %v, want none", got)
	}

	rows, err := s.JobClaim(ctx, claim)
	if err != nil || len(rows) != 5 {
		t.Fatalf("claim = %d jobs, %v; want 5", len(rows), err)
	}
	if got, want := deltas(), []delta{{"q", "available", -3, 0}, {"q", "running", 5, 0}, {"q", "scheduled", -2, 0}}; !slices.Equal(got, want) {
		t.Errorf("deltas of a claim of 3 available and 2 scheduled jobs = %v, want %v", got, want)
	}

	fs := make([]*store.JobFinishParams, len(rows))
	for i, j := range rows {
		fs[i] = &store.JobFinishParams{ID: j.ID, LeasedBy: "w", AttemptedAt: *j.AttemptedAt,
			State: kilntype.JobStateCompleted, Now: now,
			Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: now, FinishedAt: &now,
				Server: "w", Outcome: kilntype.AttemptSucceeded}}
	}
	if _, err := s.JobFinishMany(ctx, fs); err != nil {
		t.Fatal(err)
	}
	if got, want := deltas(), []delta{{"q", "completed", 5, 5}, {"q", "running", -5, 0}}; !slices.Equal(got, want) {
		t.Errorf("deltas of a completion of 5 jobs = %v, want %v", got, want)
	}
}
