package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestClaimReturnsItsUpdate checks that every text of the claim statement
// returns the claimed rows from its UPDATE, the statement's top node, and
// does not store them in a CTE to select them again (a tuplestore of wide
// rows read three times: docs/benchmarks.md, "PostgreSQL claim per job").
func TestClaimReturnsItsUpdate(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	now := time.Date(2030, 1, 1, 2, 0, 0, 0, time.UTC)
	for _, k := range []int{0, 1, 3} {
		kinds := []string{"k1", "k2", "k3"}[:k]
		for _, tc := range []struct {
			name, query string
			limits      []string
			left        []int32
			budget      []any
		}{
			{"without limits", sqlClaim(k, false), []string{}, []int32{}, nil},
			{"with limits", sqlClaim(k, true), []string{"k1"}, []int32{2}, nil},
			{"with budgets", sqlClaimBudget(k), []string{}, []int32{}, []any{[]string{"k1"}, []time.Time{now}, []int64{1000}}},
		} {
			name := fmt.Sprintf("claim of %d kinds %s", k, tc.name)
			args := append([]any{"q1", now, kinds, []string{}, 10, 10, tc.limits, tc.left, "p", nil, time.Minute, kinds},
				tc.budget...)
			eachPlan(t, s, name, tc.query, args, func(mode, plan string) {
				if !strings.HasPrefix(plan, "Update on ") || strings.Contains(plan, "CTE Scan on claimed") {
					t.Errorf("%s, %s: want the UPDATE as the plan's top node, and no CTE of claimed rows\n%s", name, mode, plan)
				}
			})
		}
	}
}

// TestClaimPlainPlan checks the plan of the plain claim (sqlClaimPlain),
// after sqlLookupSettings as the claim sends it:
// the UPDATE at the top; the available jobs read by kind from
// kiln_job_claim_kind, one range per kind; no test of its own for due
// scheduled and retryable jobs or for the queue's pause (sqlClaimPrelude's
// setting says); no sequential scan, and none of sqlClaim's parts that it
// drops (the walk of waiting jobs, a sort of the candidates).
// With budgets (sqlClaimPlainBudget), it also reads the limits and
// states of the budgets by primary key; with one kind's
// (sqlClaimPlainBudgetOne), it updates the budget's row found by primary
// key, with no INSERT … ON CONFLICT. Of named kinds (with budgets or
// without), each range starts past the claim's mark: the row comparison
// claimPastMark is in its Index Cond, after the queue and the kind, where
// a btree makes it the scan's start key. TestClaimPreludePlan checks its
// prelude's.
func TestClaimPlainPlan(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	fillTables(t, s, sqlExplainData)
	now := time.Date(2030, 1, 1, 2, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		k       int
		anyKind bool // sqlClaimPlainAny: the kinds from kiln.claim_kinds
		budget  bool // sqlClaimPlainBudget
		one     bool // with budget, sqlClaimPlainBudgetOne
	}{{1, false, false, false}, {3, false, false, false}, {1, true, false, false}, {3, true, false, false},
		{1, false, true, false}, {3, false, true, false}, {1, false, true, true}, {3, false, true, true}} {
		k := c.k
		names := []string{"k1", "k2", "k3"}[:k]
		var kinds any = names
		name, sql := fmt.Sprintf("plain claim of %d kinds", k), sqlClaimPlain(k)
		if c.anyKind {
			kinds, name, sql = k, fmt.Sprintf("plain claim of %d kinds listed", k), sqlClaimPlainAny(k)
		}
		args := []any{"q1", now, kinds, 10, "p", nil, time.Minute}
		marked := !c.anyKind
		if marked {
			args = append(args, int32(2), now, int64(7))
		}
		switch {
		case c.one:
			name += " with one kind's budget"
			sql, args = sqlClaimPlainBudgetOne(k), append(args, names[0], now)
		case c.budget:
			name += " with budgets"
			sql, args = sqlClaimPlainBudget(k), append(args, names[:1], []int32{100}, []int64{1_000_000}, []int32{1000}, now)
		}
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			// As the claim sends it: after sqlLookupSettings (or the
			// same settings in sqlLockLookup).
			plan, err := explainAfter(t.Context(), s.pool, sqlLookupSettings, s.sql(sql), mode, args)
			if err != nil {
				t.Fatalf("%s, %s: %v", name, mode, err)
			}
			wantNoSeqScan(t, name, mode, plan)
			picked := planNode(plan, "CTE picked")
			ranges, sought, past := 0, 0, 0
			for _, line := range picked {
				ranges += strings.Count(line, "kiln_job_claim_kind")
				if strings.Contains(line, "Index Cond: ") && strings.Contains(line, " AND (kind = ") {
					sought++
					if strings.Contains(line, ") AND (ROW(priority, scheduled_at, id) > ROW(") {
						past++
					}
				}
			}
			// Below a Merge Append, each kind's range may be sorted (as
			// sqlClaim's): the candidates as a whole are not.
			above := strings.Split(plan, "\n")
			if i := slices.IndexFunc(above, func(l string) bool { return strings.Contains(l, "Merge Append") }); i >= 0 {
				above = above[:i]
			}
			switch {
			case !strings.HasPrefix(plan, "Update on "):
				t.Errorf("%s, %s: want the UPDATE as the plan's top node\n%s", name, mode, plan)
			case ranges != k || sought != k:
				t.Errorf("%s, %s: %d ranges of kiln_job_claim_kind, %d sought by kind; want %d\n%s", name, mode, ranges, sought, k, plan)
			case marked && past != k:
				t.Errorf("%s, %s: %d ranges start past the mark (Index Cond); want %d\n%s", name, mode, past, k, plan)
			case !strings.Contains(plan, "current_setting('kiln.claim_plain'"):
				t.Errorf("%s, %s: does not read the prelude's kiln.claim_plain\n%s", name, mode, plan)
			case c.anyKind && !strings.Contains(plan, "current_setting('kiln.claim_kinds'"):
				t.Errorf("%s, %s: does not read the listing's kiln.claim_kinds\n%s", name, mode, plan)
			case strings.Contains(plan, "kiln_job_due") || strings.Contains(plan, "kiln_queue"):
				t.Errorf("%s, %s: tests due jobs or the pause itself\n%s", name, mode, plan)
			case strings.Contains(plan, "Recursive Union") || slices.ContainsFunc(above, func(l string) bool { return strings.Contains(l, "Sort") }):
				t.Errorf("%s, %s: walks waiting jobs or sorts the candidates\n%s", name, mode, plan)
			case c.budget && !c.one && (!strings.Contains(plan, "Index Scan using kiln_rate_limit_pkey") ||
				!strings.Contains(plan, "Index Scan using kiln_rate_limit_state_pkey")):
				t.Errorf("%s, %s: want the budget's limit and state read by primary key\n%s", name, mode, plan)
			case c.one && (!strings.Contains(plan, "Update on kiln_rate_limit_state") ||
				!strings.Contains(plan, "Index Scan using kiln_rate_limit_state_pkey") ||
				strings.Contains(plan, "kiln_rate_limit_pkey") || strings.Contains(plan, "Conflict")):
				t.Errorf("%s, %s: want the budget's row updated by primary key, and nothing else read\n%s", name, mode, plan)
			}
		}
	}
}

// sqlPreludePlanData adds to sqlCompletePlanData's jobs $1 / 10 scheduled
// jobs of queue q0 due later, as many due, and as many of queue q1 due;
// the table is not analyzed.
const sqlPreludePlanData = `
INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at)
SELECT 'k' || (g % 4), CASE WHEN g % 3 = 2 THEN 'q1' ELSE 'q0' END, '{}', 'scheduled', 1 + g % 4, 3,
	timestamptz '2030-01-01 00:00:00+00',
	timestamptz '2030-01-01 00:00:00+00' + CASE WHEN g % 3 = 0 THEN interval '1 day' ELSE interval '0' END
FROM generate_series(1, $1 * 3 / 10) AS g`

// TestClaimPreludePlan checks the plan of the plain claim's prelude
// (sqlClaimPrelude), after sqlLookupSettings as the claim sends it: its
// due test reads the claim's queue's due jobs in kiln_job_claim_waiting,
// sought by priority, and kiln_job nowhere else (not kiln_job_due, which
// holds every queue's due jobs, nor the queue's whole range, the jobs due
// later included, as a scan for priority = ANY(...) did). It does
// so on tables of 0, 300, 5,000 and 100,000 jobs, never analyzed and then
// analyzed, for a claim of one kind and of any kind, with custom and
// generic plans; and so do sqlClaimPreludeRate and sqlClaimPreludeRateOne,
// which also read the rate limits and budget states by primary key.
func TestClaimPreludePlan(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 2, 0, 0, 0, time.UTC)
	for _, rows := range []int{0, 300, 5_000, 100_000} {
		t.Run(fmt.Sprint(rows), func(t *testing.T) {
			t.Parallel()
			s := NewForTest(t)
			for _, data := range []string{sqlCompletePlanData, sqlPreludePlanData} {
				if _, err := s.pool.Exec(t.Context(), s.expand(data), rows); err != nil {
					t.Fatal(err)
				}
			}
			for _, analyzed := range []bool{false, true} {
				if analyzed {
					if _, err := s.pool.Exec(t.Context(), s.expand(`ANALYZE {s}.kiln_job`)); err != nil {
						t.Fatal(err)
					}
				}
				for _, kinds := range [][]string{{"k1"}, nil} {
					for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
						name := fmt.Sprintf("prelude, kinds %v, %d jobs, analyzed %v, %s", kinds, rows, analyzed, mode)
						for _, rate := range []string{"", "kinds", "one"} {
							query, args := sqlClaimPrelude, []any{"q0", now, kinds, []string{}}
							switch rate {
							case "kinds":
								query, args = sqlClaimPreludeRate, append(args, []string{"k1"}, []int32{100},
									[]int64{1_000_000}, []int32{1000}, now, 10)
							case "one":
								query, args = sqlClaimPreludeRateOne, append(args, "k1", int32(100),
									int64(1_000_000), int32(1000), now, 10)
							}
							plan, err := explainAfter(t.Context(), s.pool, sqlLookupSettings, s.sql(query), mode, args)
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							if strings.Count(plan, " on kiln_job ") != 1 ||
								!strings.Contains(plan, "->  Index Scan using kiln_job_claim_waiting on kiln_job") ||
								!strings.Contains(plan, "(priority = \"*VALUES*\".column1) AND (scheduled_at <= ") {
								t.Errorf("%s, rate %q: want the queue's due jobs sought by priority in kiln_job_claim_waiting, "+
									"and no other read of kiln_job\n%s", name, rate, plan)
							}
							if rate != "" && (!strings.Contains(plan, "Index Scan using kiln_rate_limit_pkey") ||
								!strings.Contains(plan, "Index Scan using kiln_rate_limit_state_pkey")) {
								t.Errorf("%s, rate: want the budgets' limits and states read by primary key\n%s", name, plan)
							}
							wantNoSeqScan(t, name, mode, plan)
						}
					}
				}
			}
		})
	}
}

// statementRecorder is a pgx tracer that records the text of each
// statement of a batch.
type statementRecorder struct {
	mu   sync.Mutex
	sqls []string
}

func (r *statementRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (r *statementRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *statementRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (r *statementRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sqls = append(r.sqls, d.SQL)
}
func (r *statementRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// take returns the statements recorded since the last call.
func (r *statementRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	sqls := r.sqls
	r.sqls = nil
	return sqls
}

// TestClaimPlainOrGeneral checks which statements a claim without limits
// sends: the plain claim after its prelude while no scheduled or
// retryable job of its queue and kinds is due, also when such jobs are due
// in another queue (a paused one, say) or are of another kind; the general
// one too (sqlClaim) once one of its queue and kinds is due, which it
// claims first, in claim order, or when more than claimDueScan due jobs of
// other kinds come first; and neither takes anything from a paused queue,
// which the prelude says without sending sqlClaim.
func TestClaimPlainOrGeneral(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	rec := &statementRecorder{}
	traced := tracedForTest(t, s, rec)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	insert := func(queue, kind string, priority int, state kilntype.JobState, at time.Time) int64 {
		t.Helper()
		inserted := state
		if state == kilntype.JobStateRetryable { // a job is inserted scheduled, and fails into retryable
			inserted = kilntype.JobStateScheduled
		}
		rows, err := s.JobInsertMany(ctx, []*store.JobInsertParams{{Kind: kind, Queue: queue, Args: []byte(`{}`),
			Priority: priority, MaxAttempts: 1, State: inserted, ScheduledAt: at, CreatedAt: at}})
		if err != nil {
			t.Fatal(err)
		}
		id := rows[0].Job.ID
		if state != inserted {
			if _, err := s.pool.Exec(ctx, s.expand(`UPDATE {s}.kiln_job SET state = $2 WHERE id = $1`), id, state); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	claim := func() []int64 {
		t.Helper()
		jobs, err := traced.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: 10, LeasedBy: "p", Kinds: []string{"k"},
			Now: now, LeaseExpiresAt: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		return ids
	}
	plain := []string{sqlLookupSettings, traced.sql(sqlClaimPrelude), traced.sql(sqlClaimPlain(1))}
	general := append(slices.Clone(plain), traced.sql(sqlGenericPlans), traced.sql(sqlClaim(1, false)))
	check := func(what string, want []int64, statements []string) {
		t.Helper()
		if got := claim(); !slices.Equal(got, want) {
			t.Errorf("claim %s = %v, want %v", what, got, want)
		}
		if got := rec.take(); !slices.Equal(got, statements) {
			t.Errorf("claim %s sent %d statements, want %d:\n%s", what, len(got), len(statements),
				strings.Join(got, "\n--\n"))
		}
	}

	a := insert("q", "k", 1, kilntype.JobStateAvailable, now.Add(-time.Minute))
	insert("q", "k", 1, kilntype.JobStateScheduled, now.Add(time.Minute)) // not due
	check("with nothing due but an available job", []int64{a}, plain)

	// Due, but in another queue, or of a kind the claim does not take.
	b := insert("q", "k", 1, kilntype.JobStateAvailable, now.Add(-time.Second))
	insert("paused", "k", 1, kilntype.JobStateScheduled, now.Add(-time.Hour))
	insert("q", "other", 1, kilntype.JobStateRetryable, now.Add(-time.Hour))
	if err := s.QueuePause(ctx, &store.QueuePauseParams{Name: "paused", Paused: true, Now: now}); err != nil {
		t.Fatal(err)
	}
	check("with jobs due in another queue and of another kind", []int64{b}, plain)

	c := insert("q", "k", 1, kilntype.JobStateAvailable, now.Add(-time.Second))
	due := insert("q", "k", 1, kilntype.JobStateScheduled, now.Add(-time.Hour)) // due, first in claim order
	check("with a scheduled job due", []int64{due, c}, general)

	// claimDueScan due jobs of another kind before the claim's, at the
	// next priority: the prelude stops reading there, and sqlClaim reads
	// them.
	for range claimDueScan {
		insert("q", "other", 2, kilntype.JobStateScheduled, now.Add(-2*time.Hour))
	}
	later := insert("q", "k", 2, kilntype.JobStateScheduled, now.Add(-time.Hour))
	check("with many due jobs of another kind first", []int64{later}, general)

	insert("q", "k", 1, kilntype.JobStateRetryable, now.Add(-time.Hour))
	insert("q", "k", 1, kilntype.JobStateAvailable, now.Add(-time.Hour))
	if err := s.QueuePause(ctx, &store.QueuePauseParams{Name: "q", Paused: true, Now: now}); err != nil {
		t.Fatal(err)
	}
	check("of a paused queue", []int64{}, plain)
}
