package sqlite

import (
	"slices"
	"strconv"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/storetest"
)

// TestUpgradeFrom029 migrates a database of version 29 holding a job in
// each state to the current version, whose migration 030 builds
// kiln_job_finished: the index holds each finished job that was there
// before (and no other), a page of each final state lists its job through
// it, and the jobs run through the store (storetest.CheckUpgradedJobs),
// the jobs that finish there taking entries too. It fails without
// migration 030 (JobList names the index).
func TestUpgradeFrom029(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, ids := oldJobs(t, 29)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Fatal(err)
	}
	indexed := func() []string {
		return queryTexts(t, s.r, `SELECT state || ' ' || id FROM kiln_job INDEXED BY kiln_job_finished
WHERE finalized_at IS NOT NULL AND state IN ('completed', 'cancelled', 'discarded') ORDER BY state, id`)
	}
	var want []string
	for _, st := range []kilntype.JobState{kilntype.JobStateCancelled, kilntype.JobStateCompleted, kilntype.JobStateDiscarded} {
		want = append(want, string(st)+" "+strconv.FormatInt(ids[st], 10))
		jobs, err := s.JobList(ctx, &store.JobListParams{States: []kilntype.JobState{st}, Kinds: []string{storetest.UpgradeKind},
			Queues: []string{storetest.UpgradeQueue}})
		if err != nil || len(jobs) != 1 || jobs[0].ID != ids[st] {
			t.Errorf("JobList of %s jobs after 030: %v, %v; want job %d", st, jobs, err, ids[st])
		}
	}
	if got := indexed(); !slices.Equal(got, want) {
		t.Errorf("kiln_job_finished after 030: %v, want %v", got, want)
	}
	storetest.CheckUpgradedJobs(t, s, ids)
	if got, all := indexed(), queryTexts(t, s.r, `SELECT state || ' ' || id FROM kiln_job NOT INDEXED
WHERE finalized_at IS NOT NULL ORDER BY state, id`); !slices.Equal(got, all) || len(all) <= len(want) {
		t.Errorf("kiln_job_finished after the jobs ran: %v, want every finished job %v (more than %d)", got, all, len(want))
	}
}

// TestFinishedKindsWalk checks how JobList reads a page of one final state
// and a kind (finishedKindsWalk): with 2,000 completed jobs of kind k, 5
// of kind r and 2,000 available ones, a page of completed jobs of kind r
// reads and sorts those 5 from kiln_job_finalized_kind (walking
// kiln_job_finished would read every completed job to find them), and a
// page of kind k walks kiln_job_finished (its first 50 entries are of k);
// either lists the right jobs newest first.
func TestFinishedKindsWalk(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	if _, err := s.w.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 4005)
INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, finalized_at)
SELECT CASE WHEN n % 400 = 7 THEN 'r' ELSE 'k' END, 'q', '{}', CASE WHEN n <= 2005 THEN 'completed' ELSE 'available' END,
	1, 1, n, n, CASE WHEN n <= 2005 THEN n END FROM g`); err != nil {
		t.Fatal(err)
	}
	completed := []kilntype.JobState{kilntype.JobStateCompleted}
	for _, c := range []struct {
		kinds []string
		want  listWalk
		jobs  int
	}{
		{[]string{"r"}, walkFinalized, 5},
		{[]string{"k"}, walkFinished, 50},
		{nil, walkFinished, 50},
	} {
		params := &store.JobListParams{States: completed, Kinds: c.kinds, Limit: 50}
		walk, err := s.listWalk(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if walk != c.want {
			t.Errorf("kinds %v: walk %+v, want %+v", c.kinds, walk, c.want)
		}
		jobs, err := s.JobList(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != c.jobs {
			t.Errorf("kinds %v: %d jobs listed, want %d", c.kinds, len(jobs), c.jobs)
		}
		for i, j := range jobs {
			if j.State != kilntype.JobStateCompleted || (c.kinds != nil && j.Kind != c.kinds[0]) || (i > 0 && j.ID >= jobs[i-1].ID) {
				t.Errorf("kinds %v: job %d: %s of kind %s, ID %d: not newest first", c.kinds, i, j.State, j.Kind, j.ID)
			}
		}
	}
}
