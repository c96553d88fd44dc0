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
			DROP TRIGGER kiln_job_count_delete; DROP TRIGGER kiln_job_update;
			DROP TABLE kiln_job_count; DROP TABLE kiln_job_history; DROP TABLE kiln_job_queue_history;
			DELETE FROM kiln_migration WHERE version = 7`); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCountRebuild checks that JobCountRebuild corrects a counter that an
// UPDATE by hand made wrong (storetest.CheckCountRebuild).
func TestCountRebuild(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kiln.db")
	s := open(t, path, &sqlite.Options{Migrate: true})
	storetest.CheckCountRebuild(t, s, func(queue string) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(t.Context(), `UPDATE kiln_job_count SET jobs = jobs + 2
			WHERE queue = ? AND state = 'available'`, queue); err != nil {
			t.Fatal(err)
		}
	})
}
