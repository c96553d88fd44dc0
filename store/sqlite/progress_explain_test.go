package sqlite

import (
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestProgressQueryPlans checks with EXPLAIN QUERY PLAN that the statements
// of job progress, logs and JobList's tag filter look rows up through
// indexes, never scan a Kiln table, and that a tag listing reads the tag
// index in the page's order (no sort of all the tag's jobs: the planner's
// choice with the CROSS JOIN that jobListQuery writes).
func TestProgressQueryPlans(t *testing.T) {
	t.Parallel()
	s := openMigrated(t)
	type query struct {
		name  string
		query string
		args  []any
	}
	queries := []query{
		{"progress set", sqlProgressSet, []any{50, 1, "p", 1}},
		{"log reserve", sqlLogReserve, []any{2, 1, "p", 1}},
		{"log trim", sqlLogTrim, []any{1, 10}},
		{"log list", sqlLogList, []any{1, 0, 100}},
		{"log tail", sqlLogTail, []any{1, 0, 100}},
	}
	for name, p := range map[string]*store.JobListParams{
		"list tag":           {Tag: "a", Limit: 101},
		"list tag page":      {Tag: "a", Cursor: 5000, Limit: 101},
		"list tag asc":       {Tag: "a", OrderAsc: true, Limit: 101},
		"list tag and state": {Tag: "a", States: []kilntype.JobState{"completed"}, Limit: 101},
	} {
		q, args, ok := jobListQuery(p, listWalk{})
		if !ok {
			t.Fatalf("%s: nothing to match", name)
		}
		queries = append(queries, query{name, q, args})
	}
	for _, q := range queries {
		for _, step := range queryPlan(t, s.r, q.name, q.query, q.args...) {
			// The tail's sort is of the Limit rows its subquery returns;
			// a listing's would be of all the tag's jobs.
			sorts := strings.Contains(step, "TEMP B-TREE") && strings.HasPrefix(q.name, "list ")
			if strings.HasPrefix(step, "SCAN kiln_") || sorts {
				t.Errorf("%s: %q", q.name, step)
			}
		}
	}
}
