package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
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
	ps := make([]*store.JobInsertParams, 3)
	for i := range ps {
		ps[i] = &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{}`),
			Priority: 1, MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}
	}
	ps[0].Tags, ps[1].Tags = []string{"a", "b", "a"}, []string{"a"}
	res, err := s.JobInsertMany(ctx, ps)
	if err != nil {
		t.Fatal(err)
	}
	if n := tagRows(); n != 3 {
		t.Fatalf("%d tag rows after inserting tags [a b a], [a] and none; want 3", n)
	}
	if _, err := s.JobDelete(ctx, res[0].Job.ID); err != nil {
		t.Fatal(err)
	}
	if n := tagRows(); n != 1 {
		t.Fatalf("%d tag rows after deleting the job tagged [a b a]; want 1", n)
	}

	// Undo migration 008, then run it again on the jobs that exist.
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
	s2 := open(t, path, &sqlite.Options{Migrate: true}) // a fresh Store: s prepared statements on the old schema
	if n := tagRows(); n != 1 {
		t.Fatalf("%d tag rows after migration 008 on existing jobs; want 1", n)
	}
	jobs, err := s2.JobList(ctx, &store.JobListParams{Tag: "a"})
	if err != nil || len(jobs) != 1 || jobs[0].ID != res[1].Job.ID {
		t.Fatalf("JobList tag a after migrating: %v, %v", jobs, err)
	}
}
