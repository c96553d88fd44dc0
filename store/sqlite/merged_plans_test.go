package sqlite

import (
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestMergedListPlans checks with EXPLAIN QUERY PLAN that a merged
// JobList (store.MergedListStates: a kind or queue over every state,
// available jobs of a kind) is one compound SELECT merged in ID order
// (MERGE), whose arms read each state's index in ID order without a sort
// (kiln_job_finished for a final state, the filter a term of its entries;
// kiln_job_state_inflight for an in-flight one, from the first tier's
// reach), and the available jobs as availableWalkFor chose: sorted from
// kiln_job_claim_untagged's and kiln_job_claim_fair's ranges (of each
// queue of the loose scans when no queue is given: never every entry; one
// sort each), or in ID order from the table; the table is otherwise read
// only by ID, for the page's jobs. The only other sort is of the first
// tier's IDs (at most a page of them). Before, such a page walked the table
// through every job newer than its last (on 1,000,000 jobs, a kind of
// 0.1 %: 51,000 rows, 12-20 ms; docs/benchmarks.md, "dash1m: dashboard
// pages of a kind or queue at 1,000,000 jobs").
func TestMergedListPlans(t *testing.T) {
	t.Parallel()
	s := openMigrated(t)
	available := []kilntype.JobState{kilntype.JobStateAvailable}
	for _, c := range []struct {
		name   string
		params store.JobListParams
		walk   store.AvailableWalk
		want   []string // steps of the plan
		sorts  int      // temporary b-trees: the sorted available jobs' (two), each tier's IDs merged with the next's
	}{
		{"a kind, available jobs sorted", store.JobListParams{Kinds: []string{"k"}, Cursor: 5000, ArgsPreview: 100},
			store.AvailableSorted, []string{"MATERIALIZE tier1", "MATERIALIZE tier2", "MATERIALIZE tier3", "MERGE (UNION ALL)",
				"SEARCH kiln_job USING COVERING INDEX kiln_job_claim_untagged (queue=? AND kind=?)",
				"SEARCH kiln_job USING INDEX kiln_job_claim_fair (queue=? AND kind=?)",
				"SEARCH kiln_job USING INDEX kiln_job_finished (state=? AND id>? AND id<?)",
				"SEARCH kiln_job USING INDEX kiln_job_state_inflight (state=? AND id>? AND id<?)",
				"SEARCH kiln_job USING INTEGER PRIMARY KEY (rowid=?)"}, 4},
		{"a queue, available jobs in ID order", store.JobListParams{Queues: []string{"q"}},
			store.AvailableInline, []string{"MERGE (UNION ALL)", "SCAN kiln_job",
				"SEARCH kiln_job USING INDEX kiln_job_finished (state=? AND id>?)",
				"SEARCH kiln_job USING INDEX kiln_job_state_inflight (state=? AND id>?)"}, 2},
		{"a kind, no available job", store.JobListParams{Kinds: []string{"k"}, OrderAsc: true},
			store.AvailableNone, []string{"MERGE (UNION ALL)", "SEARCH kiln_job USING INDEX kiln_job_finished (state=?)",
				"SEARCH kiln_job USING INDEX kiln_job_state_inflight (state=? AND id<?)"}, 1},
		{"available jobs of a kind, sorted", store.JobListParams{States: available, Kinds: []string{"k"}},
			store.AvailableSorted, []string{"SEARCH kiln_job USING COVERING INDEX kiln_job_claim_untagged (queue=? AND kind=?)",
				"SEARCH kiln_job USING INDEX kiln_job_claim_fair (queue=? AND kind=?)"}, 2},
	} {
		q, args, ok := jobListMergeQuery(&c.params, store.MergedListStates(&c.params), c.walk)
		if !ok {
			t.Fatalf("%s: nothing to match", c.name)
		}
		plan := queryPlan(t, s.r, c.name, q, args...)
		joined := strings.Join(plan, "; ")
		for _, want := range c.want {
			if !strings.Contains(joined, want) {
				t.Errorf("%s: plan %q lacks %q", c.name, joined, want)
			}
		}
		if n := strings.Count(joined, "TEMP B-TREE"); n != c.sorts {
			t.Errorf("%s: plan %q has %d temporary b-trees, want %d", c.name, joined, n, c.sorts)
		}
		for _, step := range plan {
			if step == "SCAN kiln_job" && c.walk != store.AvailableInline {
				t.Errorf("%s: plan %q reads the table: %s", c.name, joined, step)
			}
		}
	}
}

// TestAvailableWalkFor checks how a merged JobList reads the available
// jobs, from their bounded count: with 999 available jobs of kind k and
// 4 of kind r over five queues (bound sqrt(50 × 1,003) = 223 for a page of
// 50), those of k in ID order from the table, those of r sorted (with or
// without a queue), and those of a kind without any sorted too (none
// counted is no proof of none by the list's statement).
func TestAvailableWalkFor(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	if _, err := s.w.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1003)
INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at)
SELECT CASE WHEN n % 300 = 7 THEN 'r' ELSE 'k' END, 'q' || (n % 5), '{}', 'available', 1, 1, n, n FROM g`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		params store.JobListParams
		want   store.AvailableWalk
	}{
		{"common kind", store.JobListParams{Kinds: []string{"k"}}, store.AvailableInline},
		{"rare kind", store.JobListParams{Kinds: []string{"r"}}, store.AvailableSorted},
		{"rare kind in its queue", store.JobListParams{Kinds: []string{"r"}, Queues: []string{"q2"}}, store.AvailableSorted},
		{"kinds, one common", store.JobListParams{Kinds: []string{"r", "k"}}, store.AvailableInline},
		{"a queue", store.JobListParams{Queues: []string{"q1"}}, store.AvailableSorted},
		{"no such kind", store.JobListParams{Kinds: []string{"x"}}, store.AvailableSorted},
	} {
		c.params.Limit = 50
		got, err := s.availableWalkFor(ctx, &c.params)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
