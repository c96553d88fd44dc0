package storetest

import (
	"testing"

	"github.com/kilnjobs/kiln/store"
)

// CheckMigratedTags checks the rows of kiln_job_tag, which serve JobList's
// tag filter: one per distinct tag of each job, added and removed by the
// store's triggers as jobs are inserted and deleted, and filled by the job
// progress migration, 008, for the jobs that exist when it runs. tagRows
// counts the rows of kiln_job_tag. remigrate must undo migration 008 as if
// the database predated it, remove it from the applied migrations, run the
// migrations again, and return a store on the migrated database (s, or a
// new one where s cannot outlive the schema change). Stores call it from
// their own tests, as CheckMigratedCounts, since undoing a migration is
// theirs to do.
func CheckMigratedTags(t *testing.T, s store.Store, tagRows func() int, remigrate func() store.Store) {
	t.Helper()
	f := &fixture{t: t, s: s, ctx: t.Context()}
	tags := func(tags ...string) jobMod { return func(p *store.JobInsertParams) { p.Tags = tags } }
	res := f.insertMany(params(tags("a", "b", "a")), params(tags("a")), params())
	if n := tagRows(); n != 3 {
		t.Fatalf("%d tag rows after inserting tags [a b a], [a] and none; want 3", n)
	}
	if _, err := s.JobDelete(f.ctx, &store.JobDeleteParams{ID: res[0].Job.ID}); err != nil {
		t.Fatalf("JobDelete: %v", err)
	}
	if n := tagRows(); n != 1 {
		t.Fatalf("%d tag rows after deleting the job tagged [a b a]; want 1", n)
	}

	migrated := remigrate()
	if n := tagRows(); n != 1 {
		t.Fatalf("%d tag rows after migration 008 on existing jobs; want 1", n)
	}
	jobs, err := migrated.JobList(f.ctx, &store.JobListParams{Tag: "a"})
	if err != nil || len(jobs) != 1 || jobs[0].ID != res[1].Job.ID {
		t.Fatalf("JobList tag a after migrating: %v, %v", jobs, err)
	}
}
