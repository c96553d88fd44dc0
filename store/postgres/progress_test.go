package postgres_test

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/store"
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
	ps := jobParams(3)
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
	_, err = s.Pool().Exec(ctx, q(`DROP TABLE {s}.kiln_job_tag, {s}.kiln_job_log;
		DROP FUNCTION {s}.kiln_job_tag_insert, {s}.kiln_job_tag_delete CASCADE;
		ALTER TABLE {s}.kiln_job DROP COLUMN progress, DROP COLUMN progress_attempt, DROP COLUMN log_seq;
		DELETE FROM {s}.kiln_migration WHERE version = 8`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if n := tagRows(); n != 1 {
		t.Fatalf("%d tag rows after migration 008 on existing jobs; want 1", n)
	}
	jobs, err := s.JobList(ctx, &store.JobListParams{Tag: "a"})
	if err != nil || len(jobs) != 1 || jobs[0].ID != res[1].Job.ID {
		t.Fatalf("JobList tag a after migrating: %v, %v", jobs, err)
	}
}
