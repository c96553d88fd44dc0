package postgres_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/storetest"
)

// TestJobTagRows checks the kiln_job_tag rows that serve JobList's tag
// filter: one per tag of each tagged job, kept by triggers on insert and
// delete, and filled for the jobs that existed when migration 008 ran.
func TestJobTagRows(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	q := func(sql string) string { return strings.ReplaceAll(sql, "{s}", pgx.Identifier{s.Schema()}.Sanitize()) }
	tagRows := func() int {
		t.Helper()
		var n int
		if err := s.Pool().QueryRow(ctx, q(`SELECT count(*) FROM {s}.kiln_job_tag`)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	storetest.CheckMigratedTags(t, s, tagRows, func() store.Store {
		_, err := s.Pool().Exec(ctx, q(`DROP TABLE {s}.kiln_job_tag, {s}.kiln_job_log;
		DROP FUNCTION {s}.kiln_job_tag_insert, {s}.kiln_job_tag_delete CASCADE;
		ALTER TABLE {s}.kiln_job DROP COLUMN progress, DROP COLUMN progress_attempt, DROP COLUMN log_seq;
		DELETE FROM {s}.kiln_migration WHERE version = 8`))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	})
}
