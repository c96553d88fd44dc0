package cli

import (
	"fmt"
	"strings"
	"testing"
)

// TestJobsBulk cancels, retries, moves and deletes every job some filters
// match through the commands, each first as a dry run.
func TestJobsBulk(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	var sleeps []int64
	for range 3 {
		sleeps = append(sleeps, enqueueID(t, db, "demo.sleep", "--in", "1h", "--queue", "slow"))
	}
	webhook := enqueueID(t, db, "http", "--args", `{"url":"https://example.com"}`, "--in", "1h")

	r := mustRun(t, "jobs", "cancel", "--kind", "demo.sleep", "--dry-run", "--database", db)
	if !strings.Contains(r.stdout, "3 jobs match; nothing changed (dry run).") {
		t.Errorf("dry run: %s", r.stdout)
	}
	if r := mustRun(t, "jobs", "list", "--state", "cancelled", "--database", db); !strings.Contains(r.stdout, "No jobs.") {
		t.Errorf("the dry run cancelled jobs:\n%s", r.stdout)
	}
	r = mustRun(t, "jobs", "cancel", "--kind", "demo.sleep", "--database", db)
	for _, want := range []string{"3 jobs match; cancelling them.", "completed: 3 of 3 jobs matched changed, 0 skipped", "in 1 batches"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("bulk cancel lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustRun(t, "jobs", "retry", "--state", "cancelled", "--state", "scheduled", "--created-before", "0s", "--database", db)
	if !strings.Contains(r.stdout, "4 jobs match; retrying them.") || !strings.Contains(r.stdout, "4 of 4 jobs matched changed") {
		t.Errorf("bulk retry:\n%s", r.stdout)
	}
	r = mustRun(t, "jobs", "move", "--queue", "slow", "--to", "fast", "--database", db)
	if !strings.Contains(r.stdout, "moving them to queue fast") || !strings.Contains(r.stdout, "3 of 3") {
		t.Errorf("bulk move:\n%s", r.stdout)
	}
	r = mustRun(t, "jobs", "list", "--queue", "fast", "--state", "available", "--database", db)
	for _, id := range sleeps {
		if !strings.Contains(r.stdout, fmt.Sprintf("\n%d ", id)) {
			t.Errorf("job %d not available in queue fast:\n%s", id, r.stdout)
		}
	}
	r = mustRun(t, "jobs", "delete", "--all", "--dry-run", "--database", db)
	if !strings.Contains(r.stdout, "4 jobs match") {
		t.Errorf("delete --all --dry-run:\n%s", r.stdout)
	}
	mustRun(t, "jobs", "delete", "--queue", "fast", "--database", db)
	r = mustRun(t, "jobs", "list", "--database", db)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], fmt.Sprint(webhook)) {
		t.Errorf("after the delete:\n%s", r.stdout)
	}
	r = mustRun(t, "jobs", "retry", "--kind", "nothing", "--database", db)
	if !strings.Contains(r.stdout, "No jobs match; nothing to do.") {
		t.Errorf("a filter that matches nothing:\n%s", r.stdout)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"jobs", "delete"}, "give a job ID, or filters"},
		{[]string{"jobs", "delete", "5", "--kind", "x"}, "not both"},
		{[]string{"jobs", "delete", "5", "6"}, "give one job ID"},
		{[]string{"jobs", "move", "--kind", "x"}, "--to is required"},
		{[]string{"jobs", "retry", "--all", "--kind", "x"}, "--all acts on every job"},
		{[]string{"jobs", "retry", "--created-from", "yesterday"}, "invalid --created-from"},
		{[]string{"jobs", "retry", "--state", "gone"}, "invalid --state"},
		{[]string{"jobs", "retry", "--tag", ""}, "--tag is empty"},
	} {
		wantFail(t, runKiln(t, append(tc.args, "--database", db)...), exitUsage, tc.want)
	}
}
