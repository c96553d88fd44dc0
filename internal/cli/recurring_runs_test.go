package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// TestRecurringRuns checks that runs (and show) list an entry's jobs and
// the occurrences it skipped, with why.
func TestRecurringRuns(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	mustRun(t, "recurring", "add", "nightly", "--database", db, "--schedule", "0 2 * * *",
		"--kind", "http", "--args", `{"url":"http://127.0.0.1:1/report"}`)
	mustRun(t, "recurring", "trigger", "nightly", "--database", db)
	// What the scheduler records when it drops missed occurrences.
	st, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2020, 1, 1, 2, 0, 0, 0, time.UTC)
	_, err = st.RecurringEnqueue(context.Background(), &store.RecurringEnqueueParams{ID: "nightly", Now: time.Now(),
		Skips: []store.RecurringSkip{
			{At: at, Through: at.Add(48 * time.Hour), Count: 3, Reason: store.SkipMisfire, Policy: "skip"},
			{At: at.Add(72 * time.Hour), Through: at.Add(72 * time.Hour), Count: 1, Reason: store.SkipOverlap, Policy: "skip"},
		}})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "recurring", "runs", "nightly", "--database", db)
	for _, want := range []string{"job 1  available",
		"2020-01-04T02:00:00Z  skipped: an earlier run was unfinished (overlap skip)",
		"2020-01-01T02:00:00Z to 2020-01-03T02:00:00Z (3)  missed: no scheduler ran; no job (misfire skip)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("runs lacks %q:\n%s", want, r.stdout)
		}
	}
	if r = mustRun(t, "recurring", "runs", "nightly", "-n", "1", "--database", db); strings.Contains(r.stdout, "skipped") {
		t.Errorf("runs -n 1:\n%s", r.stdout)
	}
	if r = mustRun(t, "recurring", "show", "nightly", "--database", db); !strings.Contains(r.stdout, "missed: no scheduler ran") {
		t.Errorf("show lacks the skips:\n%s", r.stdout)
	}
	wantFail(t, runKiln(t, "recurring", "runs", "nightly", "-n", "0", "--database", db), exitUsage, "-n must be 1 to 1000")
	wantFail(t, runKiln(t, "recurring", "runs", "nope", "--database", db), exitError, `recurring job "nope" not found`)
}
