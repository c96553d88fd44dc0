package postgres

import (
	"context"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// explainRows is how many jobs (and job attempts, and recurring
// occurrences) TestQueryPlans stores: enough for the planner to prefer
// indexes wherever they help, so no planner setting is changed.
const explainRows = 10_000

// sqlExplainData fills a migrated schema with explainRows jobs in every
// state, spread over 5 queues and 4 kinds, their attempts, 2,000 recurring
// entries, explainRows occurrences and explainRows skips, two parents for every fourth job
// (the pending ones among them), explainRows/5 batches of 5 jobs, half of
// them with a callback, then analyzes the tables. Most
// jobs are finalized, as in a database whose cleaner keeps days of history.
const sqlExplainData = `
INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt, max_attempts,
	created_at, scheduled_at, attempted_at, finalized_at, leased_by, lease_expires_at, unique_key)
SELECT 'k' || (g % 4), 'q' || (g % 5), '{}', st.state, 1 + g % 4, 1, 3,
	t.at, t.at + CASE WHEN st.state IN ('scheduled', 'retryable') THEN interval '1 day' ELSE interval '0' END,
	t.at, CASE WHEN st.state IN ('completed', 'cancelled', 'discarded') THEN t.at END,
	CASE WHEN st.state = 'running' THEN 'p' || (g % 10) END,
	CASE WHEN st.state = 'running' THEN t.at + interval '1 minute' END,
	CASE WHEN g % 7 = 0 THEN 'u' || g END
FROM generate_series(1, $1) AS g,
	LATERAL (SELECT timestamptz '2030-01-01 00:00:00+00' + g * interval '1 second' AS at) AS t,
	LATERAL (SELECT CASE
		WHEN g % 20 < 12 THEN 'completed'
		WHEN g % 20 < 15 THEN 'available'
		WHEN g % 20 < 17 THEN 'scheduled'
		WHEN g % 20 = 17 THEN 'retryable'
		WHEN g % 40 = 18 THEN 'running'
		WHEN g % 40 = 38 THEN 'pending'
		WHEN g % 20 = 18 THEN 'cancelled'
		ELSE 'discarded' END AS state) AS st;
INSERT INTO {s}.kiln_job_attempt (job_id, attempt, started_at, finished_at, server, outcome)
SELECT id, 1, created_at, created_at, 'p', 'succeeded' FROM {s}.kiln_job;
INSERT INTO {s}.kiln_recurring (id, schedule, time_zone, kind, args, queue, priority, max_attempts,
	overlap, misfire, misfire_max, paused, next_run_at, created_at, updated_at)
SELECT 'r' || g, '* * * * *', '', 'k1', '{}', 'q1', 1, 3, 'skip', 'run_once', 100, g % 10 = 0,
	timestamptz '2030-01-01 00:00:00+00' + g * interval '1 minute', now(), now()
FROM generate_series(1, 2000) AS g;
INSERT INTO {s}.kiln_recurring_occurrence (recurring_id, occurrence_at, job_id)
SELECT 'r' || (1 + g % 2000), timestamptz '2030-01-01 00:00:00+00' + g * interval '1 minute', g
FROM generate_series(1, $1) AS g;
INSERT INTO {s}.kiln_recurring_skip (recurring_id, occurrence_at, through_at, skipped, reason, policy, recorded_at)
SELECT 'r' || (1 + g % 2000), timestamptz '2030-01-01 00:00:00+00' + g * interval '1 second',
	timestamptz '2030-01-01 00:00:00+00' + g * interval '1 second', 1, 'overlap', 'skip', now()
FROM generate_series(1, $1) AS g;
INSERT INTO {s}.kiln_leader (name, leader_id, elected_at, expires_at)
VALUES ('maintenance', 'p1', now(), now());
INSERT INTO {s}.kiln_job_parent (child_id, parent_id, on_failure)
SELECT g, g - k, CASE WHEN g % 8 = 2 THEN 'cancel' ELSE 'run' END
FROM generate_series(3, $1) AS g, generate_series(1, 2) AS k
WHERE g % 4 = 2;
INSERT INTO {s}.kiln_batch (id, created_at, callback_job_id)
SELECT 'b' || g, timestamptz '2030-01-01 00:00:00+00', CASE WHEN g % 2 = 0 THEN g * 5 END
FROM generate_series(1, $1 / 5) AS g;
INSERT INTO {s}.kiln_batch_job (batch_id, job_id)
SELECT 'b' || (1 + g % ($1 / 5)), g FROM generate_series(1, $1) AS g;
ANALYZE {s}.kiln_job, {s}.kiln_job_attempt, {s}.kiln_recurring, {s}.kiln_recurring_occurrence, {s}.kiln_recurring_skip, {s}.kiln_leader,
	{s}.kiln_job_parent, {s}.kiln_batch, {s}.kiln_batch_job`

// TestQueryPlans checks with EXPLAIN that the statements the engine runs
// all the time (claim, finish, renew, rescue, schedule, clean, leader
// election, the resolver of continuations, and the recurring scheduler's) read Kiln's tables through
// indexes and never with a sequential scan, on tables of explainRows rows.
// Each statement is explained twice: with a custom plan (for the values
// given) and with the generic plan that PostgreSQL may switch to for a
// statement that pgx prepared and ran often.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	fillTables(t, s, sqlExplainData)

	now := time.Date(2030, 1, 1, 2, 0, 0, 0, time.UTC)
	later := now.Add(time.Minute)
	none := []string{}
	noLimits := []int32{}
	ids := []int64{1, 2, 3}
	three := []string{"p", "p", "p"}
	times := []*time.Time{&now, nil, &later}
	// A batch of 100 finishes, as a busy process sends them.
	const batch = 100
	var (
		batchIDs    = make([]int64, batch)
		batchStr    = make([]string, batch)
		batchTimes  = make([]time.Time, batch)
		batchNil    = make([]*time.Time, batch)
		batchBool   = make([]bool, batch)
		batchErrors = make([]*string, batch)
		batchInts   = make([]int32, batch)
	)
	for i := range batch {
		batchIDs[i], batchStr[i], batchTimes[i], batchNil[i] = int64(i*20+18), "completed", now, &now
	}
	// The dashboard's pages of finalized jobs: by state, and of a kind
	// after a cursor. A page of one state reads kiln_job_finished (migration
	// 027) newest first; TestFinishedPagePlans checks how, on a table shaped
	// as the slow case was.
	finalized := []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateCancelled,
		kilntype.JobStateDiscarded}
	listCompleted, listCompletedArgs, _ := jobListQuery(&store.JobListParams{
		States: finalized[:1], Limit: store.DefaultListLimit})
	listFinalizedKind, listFinalizedKindArgs, _ := jobListQuery(&store.JobListParams{
		States: finalized, Kinds: []string{"k1"}, Cursor: 5000, Limit: store.DefaultListLimit, ArgsPreview: 100})
	for _, q := range []struct {
		name  string
		query string
		args  []any
	}{
		{"claim", sqlClaim(1, false), []any{"q1", now, []string{"k1"}, none, 10, 10, none, noLimits, "p", nil, time.Minute,
			[]string{"k1"}}},
		{"claim 100", sqlClaim(1, false), []any{"q1", now, []string{"k1"}, none, 100, 100, none, noLimits, "p", nil, time.Minute,
			[]string{"k1"}}},
		{"claim of 3 kinds", sqlClaim(3, false), []any{"q1", now, []string{"k0", "k1", "k2"}, none, 100, 100, none, noLimits,
			"p", nil, time.Minute, []string{"k0", "k1", "k2"}}},
		{"claim of any kind", sqlClaim(4, false), []any{"q1", now, nil, none, 10, 10, none, noLimits,
			"p", nil, time.Minute, []string{"k0", "k1", "k2", "k3"}}},
		{"claim of no kind available", sqlClaim(0, false), []any{"q1", now, nil, []string{"k3"}, 10, 10, none, noLimits,
			"p", nil, time.Minute, none}},
		{"claim with kinds and limits", sqlClaim(2, true), []any{"q1", now, []string{"k1", "k2"}, []string{"k3"},
			40, 10, []string{"k1"}, []int32{2}, "p", nil, time.Minute, []string{"k1", "k2"}}},
		{"available kinds", sqlAvailableKinds, []any{"q1"}},
		{"insert jobs", sqlInsertJobs, []any{[]string{"k"}, []string{"q"}, []string{"{}"}, []string{"available"},
			[]int32{1}, []int32{1}, []time.Time{now}, []time.Time{now}, []string{`["a"]`}, []string{"{}"}, []string{""}, []string{""}}},
		{"insert jobs sharing columns", sqlInsertJobsShared, []any{"k", "q", []string{"{}"}, "available", int32(1), int32(1),
			[]time.Time{now}, []time.Time{now}, []string{"a"}, "{}", ""}},
		{"insert unique jobs", sqlInsertJobsUnique, []any{[]string{"k"}, []string{"q"}, []string{"{}"}, []string{"available"},
			[]int32{1}, []int32{1}, []time.Time{now}, []time.Time{now}, []string{`["a"]`}, []string{"{}"}, []string{"u1"}, []string{""}}},
		{"get unique", sqlGetUnique, []any{[]string{"u7", "u14"}}},
		{"finish", sqlFinishJobs, []any{ids, three, []string{"completed", "retryable", "completed"},
			times, []bool{false, false, true}, times, []*string{nil, nil, nil}, []int32{1, 1, 1},
			[]time.Time{now, now, now}, times, three, three, three, three, times, []time.Time{now, now, now}}},
		{"finish 100", sqlFinishJobs, []any{batchIDs, batchStr, batchStr, batchNil, batchBool, batchNil,
			batchErrors, batchInts, batchTimes, batchNil, batchStr, batchStr, batchStr, batchStr, batchNil, batchTimes}},
		{"list cancel requested", sqlListCancelRequested, []any{"p1"}},
		{"schedule due", sqlScheduleDue, []any{now, 100}},
		{"rescue", sqlRescue, []any{now, 100, nil}},
		{"delete finished", sqlDeleteFinished, []any{batchIDs}},
		{"clean read", sqlCleanRead, []any{int64(5000), int64(math.MaxInt64), 1000}},
		{"clean read of a sweep", sqlCleanRead, []any{int64(0), int64(5000), 1000}},
		{"clean lock", sqlCleanLock, []any{batchIDs}},
		{"list completed jobs", listCompleted, listCompletedArgs},
		{"list finalized jobs of a kind", listFinalizedKind, listFinalizedKindArgs},
		{"resolve pending", sqlResolvePending, []any{now, 100}},
		{"resolve children", sqlResolveChildren, []any{now, 100, ids}},
		{"batch get", sqlBatchGet, []any{"b7"}},
		{"lock parents", sqlLockParents, []any{ids}},
		{"insert dependencies", sqlInsertDependencies, []any{[]int64{40}, []int64{3}, []string{"cancel"},
			[]string{"b7", "new"}, []time.Time{now, now}, []*int64{nil, &ids[1]}, []string{"b7"}, []int64{40}}},
		{"get job", sqlGetJob, []any{int64(5)}},
		{"get job for update", sqlGetJobForUpdate, []any{int64(5)}},
		{"attempt list", sqlAttemptList, []any{int64(5)}},
		{"leader elect", sqlLeaderElect, []any{"maintenance", "p2", nil, 10 * time.Second}},
		{"recurring upsert", sqlRecurringUpsert, []any{"r5", "* * * * *", "", "k", "{}", "q", 1, 3, none, "{}",
			"skip", "run_once", 100, false, now, nil, nil, "", now, now, "tenant-1", false}},
		{"recurring next due", sqlRecurringNextDue, nil},
		{"recurring list due", sqlRecurringListDue, []any{now, 100}},
		{"recurring get", sqlRecurringGet, []any{"r5"}},
		{"recurring list page", sqlRecurringList, []any{"r5", 100}},
		{"recurring lock", sqlRecurringLock, []any{[]string{"r5", "r6"}}},
		{"occurrences at", sqlOccurrencesAt, []any{"r5", []time.Time{now, later}}},
		{"occurrences newest", sqlOccurrencesNewest, []any{"r5"}},
		{"occurrence insert", sqlOccurrenceInsert, []any{"k", "q", "{}", "available", 1, 3, now, now, none, "{}", "",
			"r5", now, nil, nil, ""}},
		{"occurrence insert waiting for a job", sqlOccurrenceInsert, []any{"k", "q", "{}", "available", 1, 3, now, now,
			none, "{}", "", "r5", later, &ids[0], nil, ""}},
		{"occurrence insert waiting for an occurrence", sqlOccurrenceInsert, []any{"k", "q", "{}", "available", 1, 3,
			now, now, none, "{}", "", "r5", later, nil, &now, ""}},
		{"lock running", sqlLockRunning, []any{int64(5)}},
		{"recurring enqueued", sqlRecurringEnqueued, []any{"r5", now, later, now, now, "e"}},
		{"recurring set paused", sqlRecurringSetPaused, []any{"r5", true, now, now}},
		{"recurring set error", sqlRecurringSetError, []any{"r5", "e", now}},
		{"recurring delete", sqlRecurringDelete, []any{"r5"}},
		{"occurrence list", sqlOccurrenceList, []any{"r5", 100}},
		{"skip insert", sqlSkipInsert, []any{"r5", []time.Time{later}, []time.Time{later}, []int32{1},
			[]string{"overlap"}, []string{"skip"}, now}},
		{"skip prune", sqlSkipPrune, []any{"r5", 100}},
		{"skip list", sqlSkipList, []any{"r5", 100}},
		{"parent nodes", sqlParentNodes, []any{int64(6), int64(0), 10}},
		{"child nodes", sqlChildNodes, []any{int64(4), int64(0), 10}},
		{"batch nodes", sqlBatchNodes, []any{"b7", int64(0), 10}},
		{"service report", sqlServiceReport, []any{"s", "p", "running", false, 0, "", nil, nil, now}},
	} {
		// An index scan may still read every row: these statements must
		// use the index named.
		mustUse := map[string]string{
			"resolve pending":       "kiln_job_pending",
			"resolve children":      "kiln_job_parent_parent",
			"occurrence list":       "kiln_job_attempt_job",
			"skip prune":            "kiln_recurring_skip_pkey",
			"skip list":             "kiln_recurring_skip_pkey",
			"clean read":            "kiln_job_pkey",
			"clean read of a sweep": "kiln_job_pkey",
			"clean lock":            "kiln_job_pkey",
			"list completed jobs":   "kiln_job_finished",
		}[q.name]
		eachPlan(t, s, q.name, q.query, q.args, func(mode, plan string) {
			if mustUse != "" && !strings.Contains(plan, " using "+mustUse+" on ") && !strings.Contains(plan, " Scan on "+mustUse+" ") {
				t.Errorf("%s, %s: does not use %s\n%s", q.name, mode, mustUse, plan)
			}
			wantNoSeqScan(t, q.name, mode, plan)
			if strings.HasPrefix(q.name, "claim") {
				wantClaimByKind(t, q.name, mode, plan, len(q.args[11].([]string)))
			}
		})
	}
}

// eachPlan explains query with args under a custom and then a generic
// plan (see explain), logs the custom one under name (and the generic
// one too when $KILN_EXPLAIN_GENERIC is set), and calls check
// with each plan_cache_mode and plan. It fails the test if EXPLAIN fails.
func eachPlan(t *testing.T, s *Store, name, query string, args []any, check func(mode, plan string)) {
	t.Helper()
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		plan, err := explain(t.Context(), s.pool, s.sql(query), mode, args)
		if err != nil {
			t.Fatalf("%s, %s: %v", name, mode, err)
		}
		if mode == "force_custom_plan" || os.Getenv("KILN_EXPLAIN_GENERIC") != "" {
			t.Logf("%s (%s):\n%s", name, mode, plan)
		}
		check(mode, plan)
	}
}

// wantNoSeqScan fails the test for each line of plan (of the query name
// under plan_cache_mode mode) that reads a Kiln table with a sequential
// scan.
func wantNoSeqScan(t *testing.T, name, mode, plan string) {
	t.Helper()
	for _, line := range strings.Split(plan, "\n") {
		if strings.Contains(line, "Seq Scan on kiln_") {
			t.Errorf("%s, %s: %s\n%s", name, mode, strings.TrimSpace(line), plan)
		}
	}
}

// wantClaimByKind fails the test unless the available CTE of plan, a plan
// of sqlClaim(k) (named name, under plan_cache_mode mode), reads kiln_job
// only by k ranges of kiln_job_claim_kind, each sought by its kind (an
// index condition kind = ...), and by ID lookups of the rows to lock; and,
// for k > 1, merges the ranges in claim order (a Merge Append under a
// Nested Loop, no Sort or Hash Join of their rows). So a claim never reads
// the jobs of the kinds it does not claim, nor sorts the queue's.
func wantClaimByKind(t *testing.T, name, mode, plan string, k int) {
	t.Helper()
	sub := planNode(plan, "CTE available")
	if sub == nil {
		t.Errorf("%s, %s: no CTE available\n%s", name, mode, plan)
		return
	}
	ranges := 0
	for i, line := range sub {
		if !strings.Contains(line, " on kiln_job ") && !strings.HasSuffix(line, " on kiln_job") &&
			!strings.Contains(line, "Index Scan on kiln_job_claim_kind") {
			continue
		}
		cond := ""
		if d := nodeDetails(sub[i+1:]); len(d) > 0 {
			cond = strings.Join(d, " ")
		}
		switch {
		case strings.Contains(line, "Bitmap Heap Scan"):
			// Reads the rows of the bitmap index scan below it.
		case strings.Contains(line, "kiln_job_claim_kind"):
			if !strings.Contains(cond, "(kind = ") {
				t.Errorf("%s, %s: reads kiln_job_claim_kind without seeking a kind: %s %s\n%s",
					name, mode, strings.TrimSpace(line), cond, plan)
			}
			ranges++
		case strings.Contains(cond, "(id = "):
			// The lookup of a row to lock.
		default:
			t.Errorf("%s, %s: available jobs read other than by kind: %s %s\n%s",
				name, mode, strings.TrimSpace(line), cond, plan)
		}
	}
	if ranges != k {
		t.Errorf("%s, %s: %d ranges of kiln_job_claim_kind read, want %d\n%s", name, mode, ranges, k, plan)
	}
	if k > 1 {
		merge := slices.IndexFunc(sub, func(l string) bool { return strings.Contains(l, "Merge Append") })
		if merge < 0 {
			t.Errorf("%s, %s: the ranges are not merged (no Merge Append)\n%s", name, mode, plan)
			return
		}
		for _, line := range sub[:merge] {
			if strings.Contains(line, "Sort") || strings.Contains(line, "Hash") {
				t.Errorf("%s, %s: the merged ranges are sorted or hashed: %s\n%s",
					name, mode, strings.TrimSpace(line), plan)
			}
		}
	}
}

// planNode returns the lines of the node of plan (EXPLAIN's text format)
// whose line contains head, with its details and children: head's line and
// every line after it indented deeper. It returns nil when no line
// contains head.
func planNode(plan, head string) []string {
	lines := strings.Split(plan, "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, head) })
	if start < 0 {
		return nil
	}
	indent := len(lines[start]) - len(strings.TrimLeft(lines[start], " "))
	end := start + 1
	for end < len(lines) && len(lines[end])-len(strings.TrimLeft(lines[end], " ")) > indent {
		end++
	}
	return lines[start:end]
}

// nodeDetails returns the detail lines (Index Cond, Filter, ...) that
// follow a node's line, up to its first child.
func nodeDetails(after []string) []string {
	var d []string
	for _, l := range after {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "->") || strings.HasPrefix(l, "CTE ") || strings.HasPrefix(l, "InitPlan") ||
			strings.HasPrefix(l, "SubPlan") {
			break
		}
		d = append(d, l)
	}
	return d
}

// fillTables runs the statements of data (separated by ";\n", with {s}
// for the schema and $1 for explainRows) on s, and fails the test if one
// fails.
func fillTables(t *testing.T, s *Store, data string) {
	t.Helper()
	for _, stmt := range strings.Split(data, ";\n") {
		var args []any
		if strings.Contains(stmt, "$1") {
			args = []any{explainRows}
		}
		if _, err := s.pool.Exec(t.Context(), s.expand(stmt), args...); err != nil {
			t.Fatalf("fill the tables: %v\n%s", err, stmt)
		}
	}
}

// explain returns the plan of query run with args, under plan_cache_mode
// mode: the query is prepared as a named statement, and its plan read with
// EXPLAIN EXECUTE, sent with the simple protocol (pgx writes args into it
// as literals).
func explain(ctx context.Context, pool *pgxpool.Pool, query, mode string, args []any) (string, error) {
	return explainAfter(ctx, pool, "", query, mode, args)
}

// explainAfter is explain with the statement settings run first, in the
// transaction that the query is prepared and explained in ("": none, and
// no transaction), as a batch of the store's runs them before the query.
func explainAfter(ctx context.Context, pool *pgxpool.Pool, settings, query, mode string, args []any) (string, error) {
	return explainAfterWith(ctx, pool, settings, query, mode, "", args)
}

// explainAfterWith is explainAfter with EXPLAIN's options opts (e.g.
// "VERBOSE", which shows each node's output expressions: whether a NOT IN
// in a target list is a hashed subplan; "" for none).
func explainAfterWith(ctx context.Context, pool *pgxpool.Pool, settings, query, mode, opts string, args []any) (string, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return "", err
	}
	// The session's setting and statement must not go back to the pool.
	c := conn.Hijack()
	defer c.Close(context.Background())
	if settings != "" {
		if _, err := c.Exec(ctx, "BEGIN"); err != nil {
			return "", err
		}
		if _, err := c.Exec(ctx, settings); err != nil {
			return "", err
		}
	}
	if _, err := c.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
		return "", err
	}
	if _, err := c.Prepare(ctx, "kiln_explain", query); err != nil {
		return "", err
	}
	placeholders := make([]string, len(args))
	for i := range args {
		placeholders[i] = "$" + strconv.Itoa(i+1)
	}
	explainSQL := "EXPLAIN EXECUTE kiln_explain"
	if opts != "" {
		explainSQL = "EXPLAIN (" + opts + ") EXECUTE kiln_explain"
	}
	if len(args) > 0 {
		explainSQL += "(" + strings.Join(placeholders, ", ") + ")"
	}
	rows, err := c.Query(ctx, explainSQL, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		return "", err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return strings.Join(lines, "\n"), err
}

// explainBuffers runs EXPLAIN (ANALYZE, BUFFERS) of query with args in a
// transaction of its own on pool, after the statements of settings (SET
// LOCAL ...), and returns the shared buffers its plan's root hit and
// read. It rolls the transaction back, so that what query writes does not
// stay.
func explainBuffers(ctx context.Context, pool *pgxpool.Pool, settings []string, query string, args ...any) (int, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	for _, set := range settings {
		if _, err := tx.Exec(ctx, set); err != nil {
			return 0, err
		}
	}
	var plans []explainNode
	if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+query, args...).Scan(&plans); err != nil {
		return 0, err
	}
	if len(plans) != 1 {
		return 0, fmt.Errorf("EXPLAIN returned %d plans, want 1", len(plans))
	}
	return plans[0].Plan.SharedHitBlocks + plans[0].Plan.SharedReadBlocks, nil
}

// TestClaimWithoutLimitsRanksNothing checks that the claim without kind
// limits (sqlClaim(k, false), every claim of a process without
// Config.KindLimits) and the claim that writes the budgets of rate limits
// that do not bind it (sqlClaimBudget) pick their jobs without ranking
// them within their kind: no window function, and no sort or join of
// their candidates by kind; and that the claim with limits does rank
// them, so that the check sees a window function where there is one.
func TestClaimWithoutLimitsRanksNothing(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	now := time.Date(2030, 1, 1, 2, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		limited, budget bool
		limits          []string
		left            []int32
	}{
		{false, false, []string{}, []int32{}},
		{false, true, []string{}, []int32{}},
		{true, false, []string{"k1"}, []int32{2}},
	} {
		for _, k := range []int{1, 3} {
			kinds := []string{"k1", "k2", "k3"}[:k]
			name := fmt.Sprintf("claim of %d kinds, limited %v, budget %v", k, tc.limited, tc.budget)
			query, args := sqlClaim(k, tc.limited), []any{"q1", now, kinds, []string{}, 10, 10,
				tc.limits, tc.left, "p", nil, time.Minute, kinds}
			if tc.budget {
				query, args = sqlClaimBudget(k), append(args, []string{"k1"}, []time.Time{now}, []int64{1000})
			}
			eachPlan(t, s, name, query, args, func(mode, plan string) {
				// The budget's CTE, the plan's last, counts the claimed jobs
				// by kind: the pick is what comes before it.
				pick, _, _ := strings.Cut(plan, "CTE budget")
				ranks := strings.Contains(pick, "WindowAgg")
				byKind := regexp.MustCompile(`(Sort Key|Hash Cond): .*\bkind\b`).MatchString(pick)
				if ranks != tc.limited || byKind != tc.limited {
					t.Errorf("%s, %s: window function %v, sort or join by kind %v, want %v\n%s",
						name, mode, ranks, byKind, tc.limited, plan)
				}
			})
		}
	}
}

// TestInsertStreamsRows checks that sqlInsertJobs, sqlInsertJobsUnique and
// sqlInsertJobsShared read their arrays as a ProjectSet, one row at a time in array order, and
// neither store them (a Function Scan's tuplestore) nor sort them.
func TestInsertStreamsRows(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	now := time.Date(2030, 1, 1, 2, 0, 0, 0, time.UTC)
	two := func(v string) []string { return []string{v, v} }
	general := []any{two("k"), two("q"), two("{}"), two("available"), []int32{1, 1},
		[]int32{1, 1}, []time.Time{now, now}, []time.Time{now, now}, two("[]"), two("{}"), []string{"u1", ""}, two("")}
	shared := []any{"k", "q", two("{}"), "available", int32(1), int32(1), []time.Time{now, now}, []time.Time{now, now},
		[]string{}, "{}", ""}
	for name, c := range map[string]struct {
		query string
		args  []any
	}{"insert": {sqlInsertJobs, general}, "insert unique": {sqlInsertJobsUnique, general},
		"insert sharing columns": {sqlInsertJobsShared, shared}} {
		eachPlan(t, s, name, c.query, c.args,
			func(mode, plan string) {
				if !strings.Contains(plan, "ProjectSet") || strings.Contains(plan, "Function Scan") ||
					strings.Contains(plan, "Sort") {
					t.Errorf("%s, %s: want a ProjectSet, no Function Scan and no Sort\n%s", name, mode, plan)
				}
			})
	}
}
