package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueueListPlan checks with EXPLAIN QUERY PLAN that QueueList reads
// kiln_job only through the partial claim indexes (which hold the jobs it
// counts) and kiln_job_state's running and retryable ranges: never the
// table, nor a whole index. The available jobs must be counted from the
// index alone.
func TestQueueListPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "kiln.db"), &Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+sqlQueueList)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("queue list:\n\t%s", strings.Join(plan, "\n\t"))
	// The scans QueueList may make: each reads only the entries it counts.
	allowed := map[string]bool{
		"SCAN kiln_job USING COVERING INDEX kiln_job_claim_available": true,
		"SCAN kiln_job USING INDEX kiln_job_claim_waiting":            true,
		"SCAN kiln_queue": true,
	}
	covering := false
	for _, step := range plan {
		if strings.HasPrefix(step, "SCAN kiln_") && !allowed[step] {
			t.Errorf("queue list scans: %q", step)
		}
		covering = covering || step == "SCAN kiln_job USING COVERING INDEX kiln_job_claim_available"
	}
	if !covering {
		t.Error("queue list does not count available jobs from kiln_job_claim_available alone")
	}
}
