package sqlite

import (
	"strings"
	"testing"
)

// TestQueueListPlan checks with EXPLAIN QUERY PLAN that QueueList and
// JobCountByState read their counts from kiln_job_count and never scan
// kiln_job nor any of its indexes: QueueList may only seek
// kiln_job_claim_kind, from the index alone, and each seek reads one
// entry (its ORDER BY follows the index, so no temporary B-tree sorts the
// entries of a range for LIMIT 1).
func TestQueueListPlan(t *testing.T) {
	t.Parallel()
	s := openMigrated(t)

	// The scans allowed: tables of a row per queue (and state), and the
	// kinds and priorities walked.
	allowed := map[string]bool{
		"SCAN kiln_job_count": true,
		"SCAN kiln_queue":     true,
		"SCAN prio":           true,
		"SCAN kinds":          true,
	}
	const seek = "SEARCH kiln_job USING COVERING INDEX kiln_job_claim_kind (queue=?"
	for _, q := range []struct {
		name  string
		query string
		seeks bool // whether the plan must seek kiln_job_claim_kind
	}{
		{"queue list", sqlQueueList, true},
		{"job count by state", sqlJobCountByState, false},
	} {
		seeks := false
		for _, step := range queryPlan(t, s.r, q.name, q.query) {
			switch {
			case strings.HasPrefix(step, "SCAN ") && !allowed[step]:
				t.Errorf("%s scans: %q", q.name, step)
			case strings.HasPrefix(step, "SEARCH kiln_job ") && !strings.HasPrefix(step, seek):
				t.Errorf("%s reads kiln_job other than by seeks of kiln_job_claim_kind: %q", q.name, step)
			case strings.Contains(step, "FOR ORDER BY"):
				t.Errorf("%s sorts: %q", q.name, step)
			}
			seeks = seeks || strings.HasPrefix(step, seek)
		}
		if seeks != q.seeks {
			t.Errorf("%s: seeks kiln_job_claim_kind %v, want %v", q.name, seeks, q.seeks)
		}
	}
}
