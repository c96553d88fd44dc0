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

// TestClaimPlainPlan checks the plan of the plain claim (sqlClaimPlain):
// the UPDATE at the top; the available jobs read by kind from
// kiln_job_claim_kind, one range per kind; the test for due scheduled and
// retryable jobs (sqlWaitingDue) one seek of kiln_job_due; no sequential
// scan, and none of sqlClaim's parts that it drops (the walk of waiting
// jobs, a sort of the candidates).
func TestClaimPlainPlan(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	fillTables(t, s, sqlExplainData)
	now := time.Date(2030, 1, 1, 2, 0, 0, 0, time.UTC)
	for _, k := range []int{1, 3} {
		kinds := []string{"k1", "k2", "k3"}[:k]
		name := fmt.Sprintf("plain claim of %d kinds", k)
		eachPlan(t, s, name, sqlClaimPlain(k), []any{"q1", now, kinds, 10, "p", nil, time.Minute}, func(mode, plan string) {
			wantNoSeqScan(t, name, mode, plan)
			picked := planNode(plan, "CTE picked")
			ranges, sought, due := 0, 0, false
			for _, line := range picked {
				ranges += strings.Count(line, "kiln_job_claim_kind")
				if strings.Contains(line, "Index Cond: ") && strings.Contains(line, " AND (kind = ") {
					sought++
				}
				due = due || strings.Contains(line, "using kiln_job_due on kiln_job")
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
			case !due:
				t.Errorf("%s, %s: due scheduled jobs not sought in kiln_job_due\n%s", name, mode, plan)
			case strings.Contains(plan, "Recursive Union") || slices.ContainsFunc(above, func(l string) bool { return strings.Contains(l, "Sort") }):
				t.Errorf("%s, %s: walks waiting jobs or sorts the candidates\n%s", name, mode, plan)
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
// retryable job is due, and the general one too (sqlClaim) once one is
// due, which it claims first, in claim order.
func TestClaimPlainOrGeneral(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	rec := &statementRecorder{}
	traced := tracedForTest(t, s, rec)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	insert := func(state kilntype.JobState, at time.Time) int64 {
		t.Helper()
		rows, err := s.JobInsertMany(ctx, []*store.JobInsertParams{{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1,
			MaxAttempts: 1, State: state, ScheduledAt: at, CreatedAt: at}})
		if err != nil {
			t.Fatal(err)
		}
		return rows[0].Job.ID
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
	plain := []string{traced.sql(sqlClaimPrelude), traced.sql(sqlClaimPlain(1))}
	general := append(slices.Clone(plain), traced.sql(sqlGenericPlans), traced.sql(sqlClaim(1, false)))

	a := insert(kilntype.JobStateAvailable, now.Add(-time.Minute))
	insert(kilntype.JobStateScheduled, now.Add(time.Minute)) // not due
	if got := claim(); !slices.Equal(got, []int64{a}) {
		t.Errorf("claim with nothing due but an available job = %v, want [%d]", got, a)
	}
	if got := rec.take(); !slices.Equal(got, plain) {
		t.Errorf("claim with no scheduled job due sent %d statements, want the prelude and the plain claim:\n%s",
			len(got), strings.Join(got, "\n--\n"))
	}
	b := insert(kilntype.JobStateAvailable, now.Add(-time.Second))
	due := insert(kilntype.JobStateScheduled, now.Add(-time.Hour)) // due, and first in claim order
	if got := claim(); !slices.Equal(got, []int64{due, b}) {
		t.Errorf("claim with a scheduled job due = %v, want [%d %d]", got, due, b)
	}
	if got := rec.take(); !slices.Equal(got, general) {
		t.Errorf("claim with a scheduled job due sent %d statements, want the plain claim's and then sqlClaim's:\n%s",
			len(got), strings.Join(got, "\n--\n"))
	}
}
