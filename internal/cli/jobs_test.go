package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
)

// enqueueID enqueues through the CLI and returns the job's ID.
func enqueueID(t *testing.T, db string, args ...string) int64 {
	t.Helper()
	r := mustRun(t, append(append([]string{"enqueue"}, args...), "--database", db, "--json")...)
	var row kiln.JobRow
	if err := json.Unmarshal([]byte(r.stdout), &row); err != nil {
		t.Fatal(err)
	}
	return row.ID
}

func TestJobsRoundTrip(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	later := enqueueID(t, db, "demo.sleep", "--in", "1h", "--queue", "slow")
	webhook := enqueueID(t, db, "http", "--args", `{"url":"https://example.com"}`, "--in", "1h")
	other := enqueueID(t, db, "report.build", "--any-kind", "--args", `{"month":"2030-01"}`, "--in", "1h")

	// list: newest first, with filters and pages.
	r := mustRun(t, "jobs", "list", "--database", db)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "SCHEDULED/FINALIZED") ||
		!strings.HasPrefix(lines[1], fmt.Sprint(other)) || !strings.HasPrefix(lines[3], fmt.Sprint(later)) {
		t.Errorf("jobs list:\n%s", r.stdout)
	}
	r = mustRun(t, "jobs", "list", "--database", db, "--kind", "demo.sleep", "--queue", "slow", "--state", "scheduled")
	if !strings.Contains(r.stdout, "demo.sleep") || strings.Contains(r.stdout, "http") {
		t.Errorf("filtered list:\n%s", r.stdout)
	}
	r = mustRun(t, "jobs", "list", "--database", db, "--limit", "2")
	if !strings.Contains(r.stdout, fmt.Sprintf("--cursor %d", webhook)) {
		t.Errorf("first page does not print the cursor:\n%s", r.stdout)
	}
	r = mustRun(t, "jobs", "list", "--database", db, "--limit", "2", "--cursor", fmt.Sprint(webhook), "--json")
	var page struct {
		Jobs       []*kiln.JobRow `json:"jobs"`
		NextCursor int64          `json:"next_cursor"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 1 || page.Jobs[0].ID != later || page.NextCursor != 0 {
		t.Errorf("second page: %s", r.stdout)
	}

	// show.
	r = mustRun(t, "jobs", "show", fmt.Sprint(webhook), "--database", db)
	for _, want := range []string{fmt.Sprintf("Job %d", webhook), "kind:", "http", "state:", "scheduled", `"url": "https://example.com"`, "No attempts yet."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r.stdout)
		}
	}

	// cancel, cancel again, retry, delete.
	r = mustRun(t, "jobs", "cancel", fmt.Sprint(later), "--database", db)
	if !strings.Contains(r.stdout, "is cancelled") {
		t.Errorf("cancel: %s", r.stdout)
	}
	mustRun(t, "jobs", "cancel", fmt.Sprint(later), "--database", db)
	r = mustRun(t, "jobs", "retry", fmt.Sprint(later), "--database", db)
	if !strings.Contains(r.stdout, "is available") {
		t.Errorf("retry: %s", r.stdout)
	}
	r = mustRun(t, "jobs", "delete", fmt.Sprint(later), "--database", db)
	if !strings.Contains(r.stdout, fmt.Sprintf("Deleted job %d", later)) {
		t.Errorf("delete: %s", r.stdout)
	}
	for _, verb := range []string{"show", "cancel", "retry", "delete"} {
		wantFail(t, runKiln(t, "jobs", verb, fmt.Sprint(later), "--database", db), exitError, fmt.Sprintf("job %d not found", later))
	}
}

// TestJobsWithWorker runs jobs in a worker process and checks what the
// commands say about running, failed and completed jobs.
func TestJobsWithWorker(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	_, events := startWorker(t, db)

	// A completed job cannot be cancelled; it can be retried.
	done := enqueueID(t, db, "demo.sleep", "--args", `{"millis":1}`)
	clienttest.WaitEvent(t, events, kiln.EventJobCompleted, done)
	wantFail(t, runKiln(t, "jobs", "cancel", fmt.Sprint(done), "--database", db), exitError,
		fmt.Sprintf("cannot cancel job %d: it is completed", done))
	r := mustRun(t, "jobs", "show", fmt.Sprint(done), "--database", db)
	if !strings.Contains(r.stdout, "#1  succeeded") {
		t.Errorf("show of a completed job:\n%s", r.stdout)
	}

	// A failed attempt's error shows in list and show.
	flaky := enqueueID(t, db, "demo.flaky", "--args", `{"failures":5}`, "--max-attempts", "1")
	clienttest.WaitEvent(t, events, kiln.EventJobDiscarded, flaky)
	r = mustRun(t, "jobs", "list", "--database", db, "--state", "discarded")
	if !strings.Contains(r.stdout, "flaky: attempt 1") {
		t.Errorf("list does not show the last error:\n%s", r.stdout)
	}
	r = mustRun(t, "jobs", "show", fmt.Sprint(flaky), "--database", db, "--json")
	var shown struct {
		Job      *kiln.JobRow       `json:"job"`
		Attempts []*kiln.JobAttempt `json:"attempts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Job.State != kiln.JobStateDiscarded || len(shown.Attempts) != 1 || !strings.Contains(shown.Attempts[0].Error, "flaky: attempt 1") {
		t.Errorf("show --json: %s", r.stdout)
	}

	// A running job cannot be deleted or retried; cancel stops it.
	sleeper := enqueueID(t, db, "demo.sleep", "--args", `{"millis":60000}`)
	clienttest.WaitEvent(t, events, kiln.EventJobStarted, sleeper)
	wantFail(t, runKiln(t, "jobs", "delete", fmt.Sprint(sleeper), "--database", db), exitError,
		fmt.Sprintf("cannot delete job %d: it is running", sleeper))
	wantFail(t, runKiln(t, "jobs", "retry", fmt.Sprint(sleeper), "--database", db), exitError, "it is running")
	r = mustRun(t, "jobs", "cancel", fmt.Sprint(sleeper), "--database", db)
	if !strings.Contains(r.stdout, "Cancel requested") {
		t.Errorf("cancel of a running job: %s", r.stdout)
	}
	clienttest.WaitEvent(t, events, kiln.EventJobCancelled, sleeper)
	r = mustRun(t, "jobs", "show", fmt.Sprint(sleeper), "--database", db)
	if !strings.Contains(r.stdout, "cancelled") || !strings.Contains(r.stdout, "#1  cancelled") {
		t.Errorf("show of a cancelled job:\n%s", r.stdout)
	}
	mustRun(t, "jobs", "delete", fmt.Sprint(sleeper), "--database", db)
}
