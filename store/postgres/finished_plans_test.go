package postgres

import (
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/storetest"
)

// sqlFinishedPlanData fills a migrated schema with $1 jobs shaped as the
// dashboard's slow case was: the oldest tenth finished (completed, every
// 50th discarded, every 100th cancelled) behind newer jobs in flight
// (available, every 100th running, every 20th scheduled); kinds k0 to k8
// and, on one job in a thousand, k9; queues q0 to q4 and, on one job in a
// thousand, qr. Then it analyzes the table.
const sqlFinishedPlanData = `
INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt, max_attempts,
	created_at, scheduled_at, attempted_at, finalized_at, leased_by, lease_expires_at)
SELECT CASE WHEN g % 1000 = 7 THEN 'k9' ELSE 'k' || (g % 9) END,
	CASE WHEN g % 1000 = 11 THEN 'qr' ELSE 'q' || (g % 5) END, '{}', st, 1, 1, 3, t, t, t,
	CASE WHEN st IN ('completed', 'discarded', 'cancelled') THEN t END,
	CASE WHEN st = 'running' THEN 'p' END, CASE WHEN st = 'running' THEN t END
FROM (SELECT g, timestamptz '2030-01-01 00:00:00+00' + g * interval '1 second' AS t,
	CASE WHEN g <= $1 / 10 THEN CASE WHEN g % 100 = 3 THEN 'cancelled' WHEN g % 50 = 1 THEN 'discarded' ELSE 'completed' END
		WHEN g % 100 = 5 THEN 'running' WHEN g % 20 = 2 THEN 'scheduled' ELSE 'available' END AS st
	FROM generate_series(1, $1) AS g) AS j;
ANALYZE {s}.kiln_job`

// TestFinishedPagePlans checks with EXPLAIN, under custom and generic
// plans, that the dashboard's pages of one final state (JobList as the
// Jobs page sends it: a page of 51, args previewed), with and without a
// kind, a queue or a cursor, read kiln_job_finished (newest first without
// a sort for the common state; the planner may sort a rare state's few
// rows), never the primary key, with the kind and queue as index
// conditions (checked on the entry, not on the row), and that a bounded
// count of a final state and a kind reads it too; and that a page of
// running jobs reads kiln_job_running (all of its entries, sorted: running
// jobs are few), and one of scheduled jobs kiln_job_state_waiting. Without migration 027 or
// JobList's equality and constant predicate, the pages walk the primary
// key (every newer job of another state) or sort: on 1,000,000 jobs
// 46 ms to 1 s a page (docs/benchmarks.md, "Dashboard pages at 1,000,000
// jobs").
func TestFinishedPagePlans(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	fillTables(t, s, sqlFinishedPlanData)
	st := func(states ...kilntype.JobState) []kilntype.JobState { return states }
	for _, c := range []struct {
		name   string
		params store.JobListParams
		index  string
		conds  []string // in the index scan's Index Cond
	}{
		// The state of most finished jobs: the planner must walk the
		// index, not sort. Of the others, on this small table, it may
		// also read the index's range and sort it (tens of rows).
		{"completed", store.JobListParams{States: st(kilntype.JobStateCompleted)}, "kiln_job_finished", []string{"state ="}},
		{"completed after a cursor", store.JobListParams{States: st(kilntype.JobStateCompleted), Cursor: 15000},
			"kiln_job_finished", []string{"state =", "id <"}},
		{"discarded", store.JobListParams{States: st(kilntype.JobStateDiscarded)}, "kiln_job_finished", []string{"state ="}},
		{"cancelled after a cursor", store.JobListParams{States: st(kilntype.JobStateCancelled), Cursor: 15000},
			"kiln_job_finished", []string{"state =", "id <"}},
		{"discarded of the rare kind", store.JobListParams{States: st(kilntype.JobStateDiscarded), Kinds: []string{"k9"}},
			"kiln_job_finished", []string{"state =", "kind ="}},
		{"completed of the rare queue", store.JobListParams{States: st(kilntype.JobStateCompleted), Queues: []string{"qr"}},
			"kiln_job_finished", []string{"state =", "queue ="}},
		{"discarded of a kind in a queue", store.JobListParams{States: st(kilntype.JobStateDiscarded),
			Kinds: []string{"k1"}, Queues: []string{"q1"}}, "kiln_job_finished", []string{"state =", "kind =", "queue ="}},
		{"running", store.JobListParams{States: st(kilntype.JobStateRunning)}, "kiln_job_running", nil},
		{"retryable", store.JobListParams{States: st(kilntype.JobStateRetryable)}, "kiln_job_state_waiting", []string{"state ="}},
	} {
		c.params.Limit, c.params.ArgsPreview = 51, 100
		q, args, ok := jobListQuery(&c.params)
		if !ok {
			t.Fatalf("%s: nothing to match", c.name)
		}
		eachPlan(t, s, c.name, q, args, func(mode, plan string) {
			wantIndexWalk(t, c.name, mode, plan, c.index, c.conds)
			if strings.HasPrefix(c.name, "completed") && strings.Contains(plan, "Sort") {
				t.Errorf("%s, %s: sorts\n%s", c.name, mode, plan)
			}
		})
	}
	// A bulk action's confirmation page counts up to 10,001 jobs of a
	// final state and a kind.
	lp := store.BulkListParamsFor(&kilntype.JobFilter{States: st(kilntype.JobStateDiscarded), Kinds: []string{"k9"}}, 0, 0, 0)
	from, _, where, args, _ := jobListWhere(lp)
	q := `SELECT count(*) FROM (SELECT 1 FROM ` + from + ` WHERE ` + strings.Join(where, " AND ") + ` LIMIT 10001) AS m`
	eachPlan(t, s, "bounded count", q, args, func(mode, plan string) {
		wantIndexWalk(t, "bounded count", mode, plan, "kiln_job_finished", []string{"state =", "kind ="})
	})
}

// wantIndexWalk fails the test unless plan (of the query name under
// plan_cache_mode mode) reads kiln_job by an index scan of index (or a
// bitmap index scan of it) whose Index Cond has each of conds, and
// neither by its primary key nor by a sequential scan.
func wantIndexWalk(t *testing.T, name, mode, plan, index string, conds []string) {
	t.Helper()
	wantNoSeqScan(t, name, mode, plan)
	if strings.Contains(plan, "kiln_job_pkey") {
		t.Errorf("%s, %s: reads the primary key\n%s", name, mode, plan)
	}
	node := planNode(plan, " using "+index+" on kiln_job")
	if node == nil {
		node = planNode(plan, "Bitmap Index Scan on "+index+" ")
	}
	if node == nil {
		t.Errorf("%s, %s: does not read %s\n%s", name, mode, index, plan)
		return
	}
	var cond string
	for _, d := range nodeDetails(node[1:]) {
		if strings.HasPrefix(d, "Index Cond: ") {
			cond = d
		}
	}
	for _, want := range conds {
		if !strings.Contains(cond, want) {
			t.Errorf("%s, %s: %s's Index Cond %q lacks %q\n%s", name, mode, index, cond, want, plan)
		}
	}
}

// TestUpgradeFrom026 migrates a schema of version 26 holding a job in each
// state to the current version, whose migration 027 builds
// kiln_job_finished (without CONCURRENTLY on a table this small; the
// concurrent path is TestMigrateConcurrentIndexes's): the indexes are
// those wanted, a page of each final state lists its job, and the jobs
// run through the store (storetest.CheckUpgradedJobs) and are then
// deleted by the cleaner. It fails without migration 027
// (wantJobIndexes).
func TestUpgradeFrom026(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := storeAtVersion(t, 26)
	ids := writeOldJobs(t, s)
	log := &statementLog{}
	s.migrateHook = log.add
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if want := "CREATE INDEX IF NOT EXISTS kiln_job_finished"; !log.has(want) {
		t.Errorf("no %q among %q", want, log.stmts)
	}
	wantJobIndexes(t, s)
	for _, st := range []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded} {
		jobs, err := s.JobList(ctx, &store.JobListParams{States: []kilntype.JobState{st},
			Kinds: []string{storetest.UpgradeKind}, Queues: []string{storetest.UpgradeQueue}})
		if err != nil || len(jobs) != 1 || jobs[0].ID != ids[st] {
			t.Errorf("JobList of %s jobs after 027: %v, %v; want job %d", st, jobs, err, ids[st])
		}
	}
	storetest.CheckUpgradedJobs(t, s, ids)
	far := storetest.UpgradeBase.AddDate(100, 0, 0)
	n, err := s.JobDeleteFinished(ctx, &store.JobDeleteFinishedParams{Max: 100,
		CompletedBefore: far, CancelledBefore: far, DiscardedBefore: far})
	if err != nil || n != len(ids) {
		t.Errorf("JobDeleteFinished after 027: %d jobs, %v; want the %d jobs, all finished, deleted", n, err, len(ids))
	}
}
