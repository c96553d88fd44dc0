package sqlite

import (
	"strings"
	"testing"
)

// TestQueueListPlan checks with EXPLAIN QUERY PLAN that QueueList and
// JobCountByState read their counts from kiln_job_count and never scan
// kiln_job nor any of its indexes: QueueList may only seek
// kiln_job_claim_untagged, from the index alone, where each seek reads one
// entry (its ORDER BY follows the index, so no temporary B-tree sorts the
// entries of a range for LIMIT 1), and kiln_job_claim_fair, by queue (its
// kinds) and by queue and kind (the least scheduled_at of the kind's
// keyed jobs, a range: the fair order is not the schedule's).
func TestQueueListPlan(t *testing.T) {
	t.Parallel()
	s := openMigrated(t)

	// The scans allowed: tables of a row per queue (and state), and the
	// kinds and priorities walked.
	allowed := map[string]bool{
		"SCAN kiln_job_count": true,
		"SCAN kiln_queue":     true,
		"SCAN prio":           true,
		"SCAN kinds_u":        true,
		"SCAN kinds_f":        true,
	}
	const (
		seek     = "SEARCH kiln_job USING COVERING INDEX kiln_job_claim_untagged (queue=?"
		seekFair = "SEARCH kiln_job USING INDEX kiln_job_claim_fair (queue=?"
	)
	for _, q := range []struct {
		name  string
		query string
		seeks bool // whether the plan must seek kiln_job_claim_untagged and kiln_job_claim_fair
	}{
		{"queue list", sqlQueueList, true},
		{"job count by state", sqlJobCountByState, false},
	} {
		untagged, fair := false, false
		for _, step := range queryPlan(t, s.r, q.name, q.query) {
			switch {
			case strings.HasPrefix(step, "SCAN ") && !allowed[step] && !strings.HasPrefix(step, "SCAN (subquery-"):
				t.Errorf("%s scans: %q", q.name, step)
			case strings.HasPrefix(step, "SEARCH kiln_job ") && !strings.HasPrefix(step, seek) && !strings.HasPrefix(step, seekFair):
				t.Errorf("%s reads kiln_job other than by seeks of kiln_job_claim_untagged and kiln_job_claim_fair: %q", q.name, step)
			case strings.Contains(step, "FOR ORDER BY"):
				t.Errorf("%s sorts: %q", q.name, step)
			}
			untagged = untagged || strings.HasPrefix(step, seek)
			fair = fair || strings.HasPrefix(step, seekFair)
		}
		if untagged != q.seeks || fair != q.seeks {
			t.Errorf("%s: seeks kiln_job_claim_untagged %v, kiln_job_claim_fair %v, want %v", q.name, untagged, fair, q.seeks)
		}
	}
}
