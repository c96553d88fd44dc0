package postgres_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

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
