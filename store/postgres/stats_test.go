package postgres_test

import (
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
