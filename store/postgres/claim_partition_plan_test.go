package postgres

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPartitionClaimPlans checks the plans of a claim by partition key on
// a table that was never analyzed (a new schema, or a server without
// autovacuum), with 2,000 available jobs over 1,000 keys: planned as
// partitionSource.sortsDisabled (and sqlRoundSettings) plan them,
// sqlPartitionKeys, sqlPartitionTake and sqlPartitionRound read
// kiln_job_partition_available (not kiln_job_claim_kind with a sort; the
// round's walk counts a key's running jobs by a seek of
// kiln_job_running), and none is
// compiled by JIT, which disabled sorts would
// otherwise trigger: the plan's cost then includes the penalty of a sort
// that never runs (of the jobs without a key), far above jit_above_cost,
// and compiling each take cost 1.3 to 1.8 s (a burn-down over 1,000 keys
// at one job per key ran at 283 jobs/s, 856 us of database CPU per job).
func TestPartitionClaimPlans(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt,
	max_attempts, created_at, scheduled_at, partition_key)
SELECT 'k', 'q', '{}', 'available', 1, 0, 25, now(), now(), (g % 1000)::text FROM generate_series(1, 2000) AS g`)); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 200)
	takes := make([]int32, 200)
	for i := range keys {
		keys[i], takes[i] = string(rune('a'+i%26))+strings.Repeat("x", i/26), 1
	}
	now := time.Now()
	deep := deepArgs(&s.cursors, "q", "k")
	for _, q := range []struct {
		name  string
		query string
		args  []any
	}{
		{"keys", sqlPartitionKeys, []any{"q", "k", "", 400}},
		{"take", sqlPartitionTake, append([]any{"q", "k", keys, takes, now, 0, 800, "p", nil, time.Minute}, deep...)},
		{"take with jobs without a key", sqlPartitionTake, append([]any{"q", "k", keys, takes, now, 1, 800, "p", nil, time.Minute}, deep...)},
		{"round", sqlPartitionRound, append([]any{"q", "k", "", 200, 1, 1, 1000, 0, 800, now, "p", nil, time.Minute}, deep...)},
		{"round with jobs without a key", sqlPartitionRound, append([]any{"q", "k", "", 199, 1, 1, 1000, 1, 800, now, "p", nil, time.Minute}, deep...)},
		{"round of keys alone", sqlPartitionRoundKeyed, []any{"q", "k", "", 200, 1, 1, 1000, now, "p", nil, time.Minute}},
		{"round under a limit of 1", sqlPartitionRoundOne, []any{"q", "k", "", 200, 1000, now, "p", nil, time.Minute}},
	} {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, sqlSortsOff); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+s.sql(q.query), append([]any{pgx.QueryExecModeSimpleProtocol}, q.args...)...)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(plan, "JIT") {
			t.Errorf("%s: planned with JIT compilation:\n%s", q.name, plan)
		}
		if !strings.Contains(plan, "kiln_job_partition_available") || strings.Contains(plan, "kiln_job_claim_kind on") &&
			!strings.Contains(q.name, "without a key") {
			t.Errorf("%s: does not read kiln_job_partition_available alone:\n%s", q.name, plan)
		}
		if strings.HasPrefix(q.name, "round") && !strings.Contains(plan, " using kiln_job_running on kiln_job") {
			t.Errorf("%s: does not count a key's running jobs in kiln_job_running:\n%s", q.name, plan)
		}
	}
}

// TestSortsDisabledRestores checks that partitionSource.sortsDisabled
// gives the statements that follow it in its transaction (the claim of the
// other kinds, the rate budgets' write) the session's enable_sort and jit
// again.
func TestSortsDisabledRestores(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	show := func() string {
		var sort, jit string
		if err := tx.QueryRow(ctx, `SELECT current_setting('enable_sort'), current_setting('jit')`).Scan(&sort, &jit); err != nil {
			t.Fatal(err)
		}
		return sort + " " + jit
	}
	before := show()
	p := &partitionSource{s: s, q: tx}
	var during string
	if err := p.sortsDisabled(ctx, `SELECT current_setting('enable_sort') || ' ' || current_setting('jit')`, nil,
		func(rows pgx.Rows) error { return rows.Scan(&during) }); err != nil {
		t.Fatal(err)
	}
	if during != "off off" {
		t.Errorf("enable_sort and jit during the statement: %q, want \"off off\"", during)
	}
	if after := show(); after != before {
		t.Errorf("enable_sort and jit after: %q, want %q as before", after, before)
	}
}

// TestPartitionRoundTakesWalkedJobs checks that a round of a claim under a
// per-key limit takes each key's first job where the walk found it: with
// 2,000 available jobs over 1,000 keys (a table never analyzed) and a
// limit of 1, the round's generic plan locks each walked key's first job
// by its row address and moves the jobs to running by theirs (a TID scan
// each: no second seek of the key's range per key, and no primary-key
// lookup per job), claims 200 jobs of 200 keys, and reads fewer buffers
// than the version that sought each key's range again and updated the
// jobs by ID (3,640 in this setting), and than the one that sought each
// key in kiln_job_claim_partition and counted its running jobs in
// kiln_job_running_partition (3,403): with kiln_job_partition (migration
// 024) one seek per key found both, 3,205; since migration 032 a seek of
// kiln_job_partition_available and one of kiln_job_running (no job runs
// here) per key, 3,201.
func TestPartitionRoundTakesWalkedJobs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	now := time.Now()
	for _, round := range []struct {
		name, sql, execute string
		args               func(*Store) []any
	}{
		{"round", sqlPartitionRound, `EXECUTE round('q', 'k', '', 200, 1, 1, 1000, 0, 800, $1, 'p', NULL, '1 minute', $2, $3, $4)`,
			func(s *Store) []any {
				return append([]any{pgx.QueryExecModeSimpleProtocol, now}, deepArgs(&s.cursors, "q", "k")...)
			}},
		{"round of keys alone", sqlPartitionRoundKeyed, `EXECUTE round('q', 'k', '', 200, 1, 1, 1000, $1, 'p', NULL, '1 minute')`,
			func(*Store) []any { return []any{pgx.QueryExecModeSimpleProtocol, now} }},
		{"round under a limit of 1", sqlPartitionRoundOne, `EXECUTE round('q', 'k', '', 200, 1000, $1, 'p', NULL, '1 minute')`,
			func(*Store) []any { return []any{pgx.QueryExecModeSimpleProtocol, now} }},
	} {
		s := NewForTest(t) // each its own table: a rolled-back round leaves dead row versions and entries
		if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt,
	max_attempts, created_at, scheduled_at, partition_key)
SELECT 'k', 'q', '{}', 'available', 1, 0, 25, $1, $1, (g % 1000)::text FROM generate_series(1, 2000) AS g`), now.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		root := explainRound(t, s, round.sql, round.execute, round.args(s))
		var tidScans, updated int
		var walk func(n explainPlan)
		walk = func(n explainPlan) {
			if n.NodeType == "Tid Scan" {
				tidScans++
			}
			if n.NodeType == "ModifyTable" && n.Operation == "Update" {
				updated = n.ActualRows
			}
			for _, c := range n.Plans {
				walk(c)
			}
		}
		walk(root)
		if tidScans != 2 || updated != 200 {
			t.Errorf("%s: %d TID scans and %d jobs claimed; want 2 (the lock of each key's first job and the UPDATE) and 200", round.name, tidScans, updated)
		}
		t.Logf("%s of 200 keys: %d buffers", round.name, root.SharedHitBlocks+root.SharedReadBlocks)
		if b := root.SharedHitBlocks + root.SharedReadBlocks; b > 3300 {
			t.Errorf("%s of 200 keys read %d buffers; want at most 3,300", round.name, b)
		}
	}
}

// explainRound runs execute, an EXECUTE of the statement sql prepared as
// round, under EXPLAIN (ANALYZE, BUFFERS) with args, in a transaction that
// it rolls back, after sqlRoundSettings (as partitionRounds.Round does),
// and returns the root of its plan.
func explainRound(t *testing.T, s *Store, sql, execute string, args []any) explainPlan {
	t.Helper()
	ctx := t.Context()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, sqlRoundSettings, []string{"k"}, "kiln/"+s.schema); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Prepare(ctx, "round", s.sql(sql)); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+execute, args...)
	if err != nil {
		t.Fatal(err)
	}
	plans, err := pgx.CollectRows(rows, pgx.RowTo[[]explainNode])
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Conn().Deallocate(ctx, "round"); err != nil { // prepared on the connection, not the transaction
		t.Fatal(err)
	}
	return plans[0][0].Plan
}

// explainNode is one element of EXPLAIN (FORMAT JSON)'s output.
type explainNode struct {
	Plan explainPlan `json:"Plan"`
}

// explainPlan is a plan node of EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON).
type explainPlan struct {
	NodeType         string        `json:"Node Type"`
	Operation        string        `json:"Operation"`
	ActualRows       int           `json:"Actual Rows"`
	SharedHitBlocks  int           `json:"Shared Hit Blocks"`
	SharedReadBlocks int           `json:"Shared Read Blocks"`
	Plans            []explainPlan `json:"Plans"`
}

// TestPartitionInOrderPlan checks the plan of the in-order claim of a kind
// capped per key (sqlPartitionInOrder, and sqlPartitionInOrderOne for a
// limit of 1), with its settings (those of
// sqlRoundSettings), on a table that was never analyzed, with 2,000
// available jobs over 1,000 keys and 200 running: it reads the kind's
// range of kiln_job_claim_kind past its mark (the row comparison an
// index condition), reads the kind's running keys once from
// kiln_job_running (kind an index condition, at most the bound: an index
// scan, not a bitmap scan) and, for a read that stopped at its bound,
// tests each job's key by one bounded seek of kiln_job_running (the kind's
// running jobs of the key, kind and key its index conditions: an index
// scan, not a bitmap scan), with no sort of the candidates (the jobs taken
// are sorted by key, to rank them within their key or, under a limit of 1,
// keep each key's first) and no sequential scan; and that the UPDATE, and
// counted, find the picked jobs by their row addresses (TID scans), not by
// primary key.
func TestPartitionInOrderPlan(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt,
	max_attempts, created_at, scheduled_at, partition_key)
SELECT 'k', 'q', '{}', CASE WHEN g <= 200 THEN 'running' ELSE 'available' END, 1, 0, 25, now(), now(),
	(g % 1000)::text FROM generate_series(1, 2200) AS g`)); err != nil {
		t.Fatal(err)
	}
	const settings = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_sort', 'off', true), set_config('jit', 'off', true), set_config('enable_seqscan', 'off', true)`
	now := time.Now()
	args := []any{"q", "k", now, 100, 400, 1, "p", nil, time.Minute, int32(1), now.Add(-time.Hour), int64(7), 400}
	for i, mode := range []string{"force_custom_plan", "force_generic_plan", "force_custom_plan", "force_generic_plan"} {
		// A limit of 1 (the third and fourth plans) has its own text.
		sql := sqlPartitionInOrder
		if i >= 2 {
			sql, args[5] = sqlPartitionInOrderOne, 1
		} else {
			args[5] = 2
		}
		plan, err := explainAfter(ctx, s.pool, settings, s.sql(sql), mode, args)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		wantNoSeqScan(t, "in-order claim", mode, plan)
		// Unhashed, each candidate's NOT IN would compare its key with
		// every running key read: up to window² comparisons under the
		// kind's lock. Only VERBOSE shows the target list it is in.
		verbose, err := explainAfterWith(ctx, s.pool, settings, s.sql(sql), mode, "VERBOSE", args)
		if err != nil {
			t.Fatalf("%s, verbose: %v", mode, err)
		}
		if !strings.Contains(verbose, "NOT (hashed SubPlan") {
			t.Errorf("%s: want the running keys read tested by a hashed NOT IN\n%s", mode, verbose)
		}
		conds := map[string]bool{}
		lines := strings.Split(plan, "\n")
		for i, line := range lines {
			for _, d := range nodeDetails(lines[i+1:]) {
				if !strings.HasPrefix(d, "Index Cond: ") {
					continue
				}
				switch {
				case strings.Contains(line, "kiln_job_claim_kind") && strings.Contains(d, "ROW(priority, scheduled_at, id) > ROW("):
					conds["past the mark"] = true
				case strings.Contains(line, "kiln_job_running") && strings.Contains(d, "(kind = ") && strings.Contains(d, "(partition_key = c.partition_key)"):
					conds["running"] = true
				case strings.Contains(line, "kiln_job_running") && strings.Contains(d, "(kind = ") && strings.Contains(d, "(partition_key > ''::text)"):
					conds["running read"] = true
				}
			}
		}
		taken := strings.Join(planNode(plan, "CTE taken"), "\n")
		running := strings.Join(planNode(plan, "CTE running"), "\n")
		switch {
		case !strings.HasPrefix(plan, "Update on "):
			t.Errorf("%s: want the UPDATE as the plan's top node\n%s", mode, plan)
		case len(conds) != 3:
			t.Errorf("%s: index conditions found %v; want past the mark, running read and running\n%s", mode, conds, plan)
		case !strings.Contains(taken, "CTE Scan on running"):
			t.Errorf("%s: want the candidates' keys tested against the running keys read\n%s", mode, plan)
		case strings.Contains(plan, "JIT") || strings.Contains(taken, "Sort") || strings.Contains(taken, "Bitmap") ||
			strings.Contains(running, "Bitmap"):
			t.Errorf("%s: JIT, or a sort or a bitmap scan of the candidates\n%s", mode, plan)
		case strings.Count(plan, "Tid Scan on kiln_job") != 2 || !strings.Contains(plan, "Tid Scan on kiln_job j") ||
			strings.Contains(plan, "kiln_job_pkey"):
			t.Errorf("%s: want the UPDATE and counted to find the picked jobs by their addresses (two TID scans, no primary-key lookup)\n%s", mode, plan)
		}
	}
}
