package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/kilnjobs/kiln/store/sqlite"
	"github.com/kilnjobs/kiln/store/storetest"
)

// TestMigrateCountsExistingJobs removes migration 007 from a database that
// holds jobs, as if it predated it, and checks that migrating again counts
// them.
func TestMigrateCountsExistingJobs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kiln.db")
	s := open(t, path, &sqlite.Options{Migrate: true})
	storetest.CheckMigratedCounts(t, s, func() {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(t.Context(), `DROP TRIGGER kiln_job_count_insert;
			DROP TRIGGER kiln_job_count_delete; DROP TRIGGER kiln_job_count_update;
			DROP TABLE kiln_job_count; DROP TABLE kiln_job_history; DROP TABLE kiln_job_queue_history;
			DELETE FROM kiln_migration WHERE version = 7`); err != nil {
			t.Fatal(err)
		}
	})
}
