package sqlite

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestQueryPlans checks with EXPLAIN QUERY PLAN that the queries the engine
// runs all the time (claim, rescue, schedule, clean, renew, finish, and the
// recurring scheduler's due entries, duplicate and overlap checks) look rows
// up through indexes and never scan a Kiln table. (An INSERT ... VALUES, such
// as the occurrence insert, has an empty plan: it reads nothing but the
// foreign key's parent, through its primary key.)
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s := openMigrated(t)
	for _, q := range []struct {
		name  string
		query string
		args  []any
	}{
		{"claim candidates", sqlClaimCandidates(16, 1), []any{"default", 1, `["a"]`, `["b"]`, "a"}},
		{"claim candidates of 3 kinds", sqlClaimCandidates(16, 3), []any{"default", 1, `["a","c","d"]`, `["b"]`, "a", "c", "d"}},
		{"claim candidates of no kind", sqlClaimCandidates(16, 0), []any{"default", 1, nil, `["b"]`}},
		{"available kinds", sqlAvailableKinds, []any{"default"}},
		{"running count", sqlRunningCount, []any{`["a","b"]`, `["a"]`, 10}},
		{"partition fair", sqlPartitionFair, []any{"default", "a", 1, 2, true}},
		{"partition fair one", sqlPartitionFairOne, []any{"default", "a", 1, 1, true}},
		{"fair front", sqlFairFront, []any{"default", "a"}},
		{"fair park", sqlFairPark, []any{"default", "a", 1, 10, 1, 1}},
		{"fair parked keys", sqlFairParkedKeys, []any{"default", "a", `["k1","k2"]`}},
		{"fair unpark", sqlFairUnpark, []any{"default", "a", "k1", 1}},
		{"fair unpark all", sqlFairUnparkAll, []any{"default", "a"}},
		{"fair claimed", sqlFairClaimed, []any{"default", "a", 1, 2}},
		{"fair sweep", sqlFairSweep, []any{"default", "a", 1}},
		{"fair tag", sqlFairTag, []any{"default", "a", 1, `["k1","k2"]`, 1}},
		{"fair top", sqlFairTop, []any{"default", "a", 1, 2}},
		{"fair rate walk", sqlPartitionFairRate, []any{"default", "a", 1, 2, true}},
		{"fair rate walk capped", sqlPartitionFairRateCapped, []any{"default", "a", 1, 2, true}},
		{"partition take by IDs", sqlPartitionTakeIDs, []any{"default", "a", 1, "[1,2]"}},
		{"unkeyed jobs", sqlUnkeyedJobs, []any{"default", "a", 1, 64, 1}},
		{"unkeyed jobs past the first window", sqlUnkeyedDeep, []any{"default", "a", 1, 64, 1, 1, 1}},
		{"claim rows", sqlClaimRows, []any{"[1,2]"}},
		{"claim update", sqlClaimUpdate, []any{1, "p", 2, "[1,2]"}},
		{"finish", sqlFinishJobs(2), []any{1, "p", "completed", nil, 0, 1, nil, nil, 1, "p", 2, "p", "completed", nil, 0, 1, nil, nil, 1, nil}},
		{"insert attempt", sqlInsertAttempt, []any{1, 1, 1, 1, "p", "succeeded", "", ""}},
		{"insert attempts", sqlInsertAttempts(2), []any{1, 1, 1, 1, "p", "succeeded", "", "", 2, 1, 1, 1, "p", "succeeded", "", ""}},
		{"lease renew", sqlLeaseRenew, []any{1, "[1,2]", "p"}},
		{"schedule due", sqlScheduleDue, []any{1, 10}},
		{"any expired", sqlAnyExpired, []any{1}},
		{"select expired", sqlSelectExpired, []any{1, 10}},
		{"rescue", sqlRescue, []any{1, "e", 1}},
		{"finalized kinds", sqlFinalizedKinds, []any{"completed"}},
		{"delete group of queues", sqlDeleteGroup, []any{"completed", "k", 1, `["q1"]`, true, 10}},
		{"delete group of other queues", sqlDeleteGroup, []any{"completed", "k", 1, `["q1"]`, false, 10}},
		{"delete group of every queue", sqlDeleteGroup, []any{"completed", "k", 1, `[]`, false, 10}},
		{"get unique", sqlGetUnique, []any{"k"}},
		{"list cancel requested", `SELECT id FROM kiln_job
		WHERE state = 'running' AND cancel_requested_at IS NOT NULL AND leased_by = ?
		ORDER BY id`, []any{"p"}},
		// The recurring scheduler's queries.
		{"recurring next due", sqlRecurringNextDue, nil},
		{"recurring list due", sqlRecurringListDue, []any{1, 10}},
		{"recurring exists", sqlRecurringExists, []any{"r"}},
		{"recurring get", sqlRecurringGet, []any{"r"}},
		{"recurring list page", `SELECT ` + recurringColumns + ` FROM kiln_recurring
		WHERE id > ? ORDER BY id LIMIT ?`, []any{"r", 10}},
		{"occurrence exists", sqlOccurrenceExists, []any{"r", 1}},
		{"occurrence overlap", sqlOccurrenceOverlap, []any{"r"}},
		{"occurrence insert", sqlOccurrenceInsert, []any{"r", 1, 1}},
		{"occurrence wait", sqlOccurrenceWait, []any{2, 1}},
		{"recurring enqueued", sqlRecurringEnqueued, []any{"r", 1, 1, 2, 1, 1, "e"}},
		{"resolve children", sqlReleasableChildren, []any{10, "[1,2]"}},
		{"recurring set paused", sqlRecurringSetPaused, []any{"r", 0, 1, 1}},
		{"recurring set error", sqlRecurringSetError, []any{"r", "e", 1}},
		{"recurring delete", sqlRecurringDelete, []any{"r"}},
		{"occurrence list", sqlOccurrenceList, []any{"r", 10}},
		{"skip insert", sqlSkipInsert, []any{"r", 1, 1, 1, "misfire", "skip", 1}},
		{"skip prune", sqlSkipPrune, []any{"r", 100}},
		{"skip list", sqlSkipList, []any{"r", 10}},
		{"parent nodes", sqlParentNodes, []any{1, 0, 10}},
		{"child nodes", sqlChildNodes, []any{1, 0, 10}},
		{"batch nodes", sqlBatchNodes, []any{"b", 0, 10}},
	} {
		plan := queryPlan(t, s.w, q.name, q.query, q.args...)
		if k, ok := claimKinds[q.name]; ok {
			wantClaimByKind(t, q.name, plan, k)
		}
		if strings.HasPrefix(q.name, "partition fair") {
			wantFairWalk(t, q.name, plan)
		}
		if strings.HasPrefix(q.name, "fair rate walk") {
			wantFairRateWalk(t, q.name, plan, strings.HasSuffix(q.name, "capped"))
		}
		for _, step := range plan {
			// SCAN, even USING INDEX, walks a whole table or index. (A
			// SCAN of a subquery, such as the overlap check's 8 newest
			// occurrences, walks only the rows the subquery returned.)
			if strings.HasPrefix(step, "SCAN kiln_") {
				t.Errorf("%s scans: %q", q.name, step)
			}
		}
	}
}

// claimKinds are the kinds of available jobs that TestQueryPlans's claims
// read, by name.
var claimKinds = map[string]int{
	"claim candidates":            1,
	"claim candidates of 3 kinds": 3,
	"claim candidates of no kind": 0,
}

// wantClaimByKind fails the test unless plan, the steps of the plan of
// sqlClaimCandidates(n, k) named name, reads kiln_job_claim_untagged and
// kiln_job_claim_fair only by k seeks each of a queue and kind, and sorts
// only the k fair arms' rows (at most n each, the front of the kind's fair
// order, tuples of the index: TestClaimFairArmsReadNoRow): the untagged
// ranges of the kinds and the waiting jobs are read in index order and
// merged (no row is copied into a temporary b-tree), and no job of a kind
// not claimed is read.
func wantClaimByKind(t *testing.T, name string, plan []string, k int) {
	t.Helper()
	const (
		seek     = "SEARCH kiln_job USING INDEX kiln_job_claim_untagged (queue=? AND kind=?)"
		seekFair = "SEARCH kiln_job USING INDEX kiln_job_claim_fair (queue=? AND kind=?)"
	)
	seeks, fair, sorts := 0, 0, 0
	for i, step := range plan {
		switch {
		case step == seek:
			seeks++
		case step == seekFair:
			fair++
		case strings.Contains(step, "kiln_job_claim_untagged") || strings.Contains(step, "kiln_job_claim_fair"):
			t.Errorf("%s reads an index of available jobs other than by queue and kind: %q", name, step)
		case step == "USE TEMP B-TREE FOR ORDER BY" && i > 0 && strings.HasPrefix(plan[i-1], "SCAN (subquery-"):
			sorts++
		case strings.HasPrefix(step, "USE TEMP B-TREE"):
			t.Errorf("%s sorts: %q", name, step)
		}
	}
	if seeks != k || fair != k || sorts != k {
		t.Errorf("%s: %d seeks of kiln_job_claim_untagged and %d of kiln_job_claim_fair by queue and kind, %d sorts of a fair arm; want %d each",
			name, seeks, fair, sorts, k)
	}
}

// wantFairWalk fails the test unless plan, the steps of the plan of the
// claim in fair order named name, walks kiln_job_claim_fair by queue and
// kind in its order (no sort: the walk stops when it has its jobs) and
// tests each key's running jobs by a seek of kiln_job_running_partition.
func wantFairWalk(t *testing.T, name string, plan []string) {
	t.Helper()
	var walk, running bool
	for _, step := range plan {
		switch {
		case strings.HasPrefix(step, "SEARCH kiln_job USING INDEX kiln_job_claim_fair (queue=? AND kind=?)"):
			walk = true
		case strings.Contains(step, "USING COVERING INDEX kiln_job_running_partition"),
			strings.Contains(step, "USING INDEX kiln_job_running_partition"):
			running = true
		case strings.HasPrefix(step, "USE TEMP B-TREE"):
			t.Errorf("%s sorts: %q", name, step)
		}
	}
	if !walk || !running {
		t.Errorf("%s: walk of kiln_job_claim_fair %v, seek of kiln_job_running_partition %v, want both: %q", name, walk, running, plan)
	}
}

// wantFairRateWalk fails the test unless plan, the plan of
// sqlPartitionFairRate (sqlPartitionFairRateCapped when capped) named name,
// walks kiln_job_claim_fair in its order (no sort), looks each entry's
// budget up by kiln_rate_limit_state's primary key, and, when capped,
// seeks the key's running jobs in kiln_job_running_partition.
func wantFairRateWalk(t *testing.T, name string, plan []string, capped bool) {
	t.Helper()
	var walk, budget, running bool
	for _, step := range plan {
		switch {
		case strings.HasPrefix(step, "SEARCH kiln_job USING INDEX kiln_job_claim_fair (queue=? AND kind=?)"):
			walk = true
		case step == "SEARCH kiln_rate_limit_state USING PRIMARY KEY (kind=? AND per_key=? AND key=?)":
			budget = true
		case strings.Contains(step, "INDEX kiln_job_running_partition"):
			running = true
		case strings.HasPrefix(step, "USE TEMP B-TREE"):
			t.Errorf("%s sorts: %q", name, step)
		}
	}
	if !walk || !budget || running != capped {
		t.Errorf("%s: walk of kiln_job_claim_fair %v, budget lookup %v, seek of kiln_job_running_partition %v (want %v): %q",
			name, walk, budget, running, capped, plan)
	}
}

// TestListWalks checks with EXPLAIN QUERY PLAN that each way JobList
// walks the jobs (listWalk) reads what it says: the in-flight states'
// index in ID order, the table in rowid order without a sort, or the index
// of available or finalized jobs with a sort of what it reads.
func TestListWalks(t *testing.T) {
	t.Parallel()
	s := openMigrated(t)
	finalized := []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateCancelled,
		kilntype.JobStateDiscarded}
	for _, c := range []struct {
		name   string
		params *store.JobListParams
		walk   listWalk
		want   string // a step of the plan
		sorts  bool
	}{
		{"running", &store.JobListParams{States: []kilntype.JobState{kilntype.JobStateRunning}},
			walkInflight, "USING INDEX kiln_job_state_inflight (state=?)", false},
		{"scheduled and retryable after a cursor", &store.JobListParams{States: []kilntype.JobState{
			kilntype.JobStateScheduled, kilntype.JobStateRetryable}, Cursor: 5000, Limit: 10},
			walkInflight, "INDEX kiln_job_state_inflight", true},
		{"completed, walking the table", &store.JobListParams{States: finalized[:1]},
			walkTable, "SCAN kiln_job", false},
		{"finalized of a kind after a cursor, walking the table", &store.JobListParams{States: finalized,
			Kinds: []string{"k"}, Cursor: 5000, ArgsPreview: 100}, walkTable, "SEARCH kiln_job USING INTEGER PRIMARY KEY", false},
		{"completed, few", &store.JobListParams{States: finalized[:1]},
			walkFinalized, "SEARCH kiln_job USING INDEX kiln_job_finalized_kind (state=?)", true},
		{"completed, in ID order", &store.JobListParams{States: finalized[:1], ArgsPreview: 100},
			walkFinished, "SEARCH kiln_job USING INDEX kiln_job_finished (state=?)", false},
		{"discarded of a kind in a queue after a cursor, in ID order", &store.JobListParams{States: finalized[2:],
			Kinds: []string{"k"}, Queues: []string{"q"}, Cursor: 5000, ArgsPreview: 100},
			walkFinished, "SEARCH kiln_job USING INDEX kiln_job_finished (state=? AND id<?)", false},
		{"available, few", &store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}},
			walkAvailable, "SCAN kiln_job USING INDEX kiln_job_claim_untagged; USE TEMP B-TREE FOR ORDER BY; RIGHT; SCAN kiln_job USING INDEX kiln_job_claim_fair", true},
	} {
		q, args, ok := jobListQuery(c.params, c.walk)
		if !ok {
			t.Fatalf("%s: nothing to match", c.name)
		}
		plan := queryPlan(t, s.r, c.name, q, args...)
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, c.want) {
			t.Errorf("%s: plan %q lacks %q", c.name, joined, c.want)
		}
		if sorts := strings.Contains(joined, "TEMP B-TREE"); sorts != c.sorts {
			t.Errorf("%s: plan %q sorts: %v, want %v", c.name, joined, sorts, c.sorts)
		}
	}
}

// TestCountWalks checks with EXPLAIN QUERY PLAN that JobCountMatching
// without a range of IDs (the dashboard's bounded count) seeks the index
// of its states and kind rather than reading the table.
func TestCountWalks(t *testing.T) {
	t.Parallel()
	s := openMigrated(t)
	for _, c := range []struct {
		name   string
		filter kilntype.JobFilter
		want   string // a step of the plan
	}{
		{"discarded of a kind", kilntype.JobFilter{States: []kilntype.JobState{kilntype.JobStateDiscarded}, Kinds: []string{"k"}},
			"SEARCH kiln_job USING COVERING INDEX kiln_job_finalized_kind (state=? AND kind=?"},
		{"completed and cancelled of a kind in a queue", kilntype.JobFilter{States: []kilntype.JobState{
			kilntype.JobStateCompleted, kilntype.JobStateCancelled}, Kinds: []string{"k"}, Queues: []string{"q"}},
			"SEARCH kiln_job USING INDEX kiln_job_finalized_kind (state=? AND kind=?"},
		{"retryable of a kind", kilntype.JobFilter{States: []kilntype.JobState{kilntype.JobStateRetryable}, Kinds: []string{"k"}},
			"USING INDEX kiln_job_state_inflight (state=?)"},
		{"available of a kind in a queue", kilntype.JobFilter{States: []kilntype.JobState{kilntype.JobStateAvailable},
			Kinds: []string{"k"}, Queues: []string{"q"}}, "SEARCH kiln_job USING COVERING INDEX kiln_job_claim_untagged (queue=? AND kind=?); " +
			"UNION ALL; SEARCH kiln_job USING INDEX kiln_job_claim_fair (queue=? AND kind=?)"},
	} {
		q, args, ok := jobCountQuery(&store.JobCountMatchingParams{Filter: c.filter, Limit: 10_001})
		if !ok {
			t.Fatalf("%s: nothing to match", c.name)
		}
		if joined := strings.Join(queryPlan(t, s.r, c.name, q, args...), "; "); !strings.Contains(joined, c.want) {
			t.Errorf("%s: plan %q lacks %q", c.name, joined, c.want)
		}
	}
}

// queryPlan returns the detail column of each step of the EXPLAIN QUERY
// PLAN of query run with args on db, in order, and logs them under name.
// It fails the test if EXPLAIN fails.
func queryPlan(t *testing.T, db *sql.DB, name, query string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Logf("%s:\n\t%s", name, strings.Join(plan, "\n\t"))
	return plan
}

// openMigrated opens a migrated store in a file of the test's temporary
// directory, closed when the test ends.
func openMigrated(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "kiln.db"), &Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestListWalkFromCounters checks that JobList reads the index of states
// that the counters say are rare, and walks the table for a state that
// fills pages quickly: with 1,000 available jobs and 10 completed ones, a
// page of 50 completed or cancelled jobs reads their index and sorts 10
// rows instead of walking up to 1,010 rows, and a page of available jobs
// walks the table (its first 50 rows are available) instead of sorting
// 1,000. A page of one final state reads kiln_job_finished in ID order
// whatever the counters say (migration 030).
func TestListWalkFromCounters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	if _, err := s.w.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1010)
INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, finalized_at)
SELECT 'k', 'q', '{}', CASE WHEN n <= 10 THEN 'completed' ELSE 'available' END, 1, 1, n, n,
	CASE WHEN n <= 10 THEN n END FROM g`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		states []kilntype.JobState
		want   listWalk
		jobs   int
	}{
		{[]kilntype.JobState{kilntype.JobStateCompleted}, walkFinished, 10},
		{[]kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateCancelled}, walkFinalized, 10},
		{[]kilntype.JobState{kilntype.JobStateAvailable}, walkTable, 50},
		{[]kilntype.JobState{kilntype.JobStateRunning}, walkInflight, 0},
	} {
		params := &store.JobListParams{States: c.states, Limit: 50}
		walk, err := s.listWalk(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if walk != c.want {
			t.Errorf("%s: walk %+v, want %+v", c.states, walk, c.want)
		}
		jobs, err := s.JobList(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != c.jobs {
			t.Errorf("%s: %d jobs listed, want %d", c.states, len(jobs), c.jobs)
		}
		for i, j := range jobs {
			if !slices.Contains(c.states, j.State) || (i > 0 && j.ID >= jobs[i-1].ID) {
				t.Errorf("%s: job %d: %s, ID %d after %d: not newest first", c.states, i, j.State, j.ID, jobs[max(i-1, 0)].ID)
			}
		}
	}
}

// sqlInflightInList is kiln_job_state_inflight's predicate as migration 015
// wrote it, and as versions before sqlInflightPredicate named it in their
// statements.
const sqlInflightInList = `state IN ('running', 'scheduled', 'retryable', 'pending')`

// TestInflightStatementsOnComparisons checks that every statement that
// reads kiln_job_state_inflight (each names it with INDEXED BY, which
// fails to plan when the index cannot serve it) plans on the index, and
// reads it, in each form of its predicate: the IN list of migration 015,
// migration 031's state = 'running' OR that IN list, and comparisons only
// (the migration announced in docs/upgrading.md). The same statements as
// versions before sqlInflightPredicate wrote them (with the IN list) plan
// on 015's and 031's forms, so that processes of those versions keep
// working across 031; on comparisons only, those that take their states as
// parameters (the lists and counts of chosen states) fail ("no query
// solution"), which is why 031 keeps the IN list.
func TestInflightStatementsOnComparisons(t *testing.T) {
	t.Parallel()
	type statement struct {
		name    string
		query   string
		args    []any
		byState bool // the states are parameters
	}
	statements := func() []statement {
		running, runningArgs, _ := jobListQuery(&store.JobListParams{
			States: []kilntype.JobState{kilntype.JobStateRunning}}, walkInflight)
		waiting, waitingArgs, _ := jobListQuery(&store.JobListParams{States: []kilntype.JobState{
			kilntype.JobStateScheduled, kilntype.JobStateRetryable}, Cursor: 5000, Limit: 10}, walkInflight)
		count, countArgs, _ := jobCountQuery(&store.JobCountMatchingParams{Filter: kilntype.JobFilter{
			States: []kilntype.JobState{kilntype.JobStateRetryable}, Kinds: []string{"k"}}, Limit: 10_001})
		merged, mergedArgs, _ := jobListMergeQuery(&store.JobListParams{Kinds: []string{"k"}}, kilntype.JobStates(), store.AvailableSorted)
		return []statement{
			{"any expired", sqlAnyExpired, []any{1}, false},
			{"select expired", sqlSelectExpired, []any{1, 10}, false},
			{"releasable", sqlReleasable, []any{10}, false},
			{"count running", sqlCountRunning, []any{`["a"]`}, false},
			{"running count", sqlRunningCount, []any{`["a","b"]`, `["a"]`, 10}, false},
			{"list running", running, runningArgs, true},
			{"list scheduled and retryable", waiting, waitingArgs, true},
			{"count retryable of a kind", count, countArgs, true},
			{"list a kind of every state", merged, mergedArgs, false},
		}
	}
	forms := []struct{ name, predicate string }{
		{"in list (015)", sqlInflightInList},
		{"running first (031)", ""}, // as migrated
		{"comparisons", `state = 'running' OR state = 'scheduled' OR state = 'retryable' OR state = 'pending'`},
	}
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			s := openMigrated(t)
			if form.predicate != "" {
				if _, err := s.w.ExecContext(t.Context(), `DROP INDEX kiln_job_state_inflight;
CREATE INDEX kiln_job_state_inflight ON kiln_job (state, id) WHERE `+form.predicate); err != nil {
					t.Fatal(err)
				}
			}
			for _, q := range statements() {
				// On the writer, which ran the DDL: a reader that loaded the
				// schema before it plans on the old schema (EXPLAIN runs no
				// transaction, where SQLite would notice the change).
				joined := strings.Join(queryPlan(t, s.w, q.name, q.query, q.args...), "; ")
				if !strings.Contains(joined, "INDEX kiln_job_state_inflight") {
					t.Errorf("%s: plan %q does not read kiln_job_state_inflight", q.name, joined)
				}
				// The statement of a version before sqlInflightPredicate.
				old := strings.ReplaceAll(q.query, sqlInflightPredicate, sqlInflightInList)
				if old == q.query {
					t.Fatalf("%s: no sqlInflightPredicate in %q", q.name, q.query)
				}
				rows, err := s.w.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+old, q.args...)
				if err == nil {
					rows.Close()
				}
				if form.name == "comparisons" && q.byState {
					if err == nil || !strings.Contains(err.Error(), "no query solution") {
						t.Errorf("%s as an older version wrote it, on comparisons: %v, want no query solution", q.name, err)
					}
				} else if err != nil {
					t.Errorf("%s as an older version wrote it: %v", q.name, err)
				}
			}
		})
	}
}
