package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
	"github.com/kilnjobs/kiln/store/storetest"
)

// TestJobTagRows checks the kiln_job_tag rows that serve JobList's tag
// filter: one per tag of each tagged job, kept by triggers on insert and
// delete, and filled for the jobs that existed when migration 008 ran.
func TestJobTagRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kiln.db")
	s := open(t, path, &sqlite.Options{Migrate: true})
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tagRows := func() int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM kiln_job_tag`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	storetest.CheckMigratedTags(t, s, tagRows, func() store.Store {
		for _, stmt := range []string{
			`DROP TRIGGER kiln_job_tag_insert`, `DROP TRIGGER kiln_job_tag_delete`,
			`DROP TABLE kiln_job_tag`, `DROP TABLE kiln_job_log`,
			`ALTER TABLE kiln_job DROP COLUMN progress`, `ALTER TABLE kiln_job DROP COLUMN progress_attempt`,
			`ALTER TABLE kiln_job DROP COLUMN log_seq`, `DELETE FROM kiln_migration WHERE version = 8`,
		} {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		return open(t, path, &sqlite.Options{Migrate: true}) // a fresh Store: s prepared statements on the old schema
	})
}
