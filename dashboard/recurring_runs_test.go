package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
)

// TestRecurringEntryPage checks an entry's page: its facts, its runs with
// their jobs and states, a skipped occurrence with why, the sparkline, and
// the link from the Recurring page.
func TestRecurringEntryPage(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if _, err := e.client.RecurringAddOrUpdate(ctx, kiln.RecurringJob{ID: "nightly", Schedule: "0 3 * * *", Args: okArgs{}}); err != nil {
		t.Fatal(err)
	}
	job, err := e.client.RecurringTrigger(ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(t, job.ID, kiln.JobStateCompleted)
	at := time.Date(2020, 1, 1, 3, 0, 0, 0, time.UTC)
	_, err = e.store.RecurringEnqueue(ctx, &store.RecurringEnqueueParams{ID: "nightly", Now: time.Now(),
		Skips: []store.RecurringSkip{
			{At: at, Through: at.Add(48 * time.Hour), Count: 3, Reason: store.SkipMisfire, Policy: "run_once"},
			{At: at.Add(72 * time.Hour), Through: at.Add(72 * time.Hour), Count: 1, Reason: store.SkipOverlap, Policy: "skip"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	status, body := e.get(t, "/recurring/nightly")
	if status != http.StatusOK {
		t.Fatalf("status %d:\n%s", status, body)
	}
	for _, want := range []string{
		"0 3 * * *", "Trigger now", `id="recurring-sparkline"`, `class="state-completed"`,
		fmt.Sprintf(`href="/jobs/%d"`, job.ID), "3 runs",
		"an earlier run was unfinished (overlap policy skip)",
		"3 occurrences when no scheduler ran; no job (misfire policy run_once)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if _, body = e.get(t, "/recurring/nightly?n=1"); strings.Contains(body, "skipped") || !strings.Contains(body, "1 run") {
		t.Errorf("n=1 shows more than the newest run")
	}
	if _, body = e.get(t, "/recurring/nightly?partial=live"); strings.Contains(body, "<html") || !strings.Contains(body, `id="recurring-runs"`) {
		t.Errorf("live block:\n%s", body)
	}
	if _, body = e.get(t, "/recurring"); !strings.Contains(body, `href="/recurring/nightly"`) {
		t.Errorf("the Recurring page does not link the entry")
	}
	for path, want := range map[string]int{"/recurring/nope": http.StatusNotFound, "/recurring/nightly?n=0": http.StatusBadRequest,
		"/recurring/nightly?n=1001": http.StatusBadRequest} {
		if status, _ := e.get(t, path); status != want {
			t.Errorf("GET %s: status %d, want %d", path, status, want)
		}
	}
}
