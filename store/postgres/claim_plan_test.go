package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"
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
