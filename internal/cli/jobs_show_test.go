package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestJobsShowProgressAndLog(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	id := enqueueID(t, db, "demo.sleep", "--queue", "show")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Claim the job and report as its worker would.
	now := time.Now().UTC()
	jobs, err := st.JobClaim(ctx, &store.JobClaimParams{Queue: "show", Max: 1, AnyKind: true, LeasedBy: "p", LeaseExpiresAt: now.Add(time.Hour), Now: now})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v, %d jobs", err, len(jobs))
	}
	lease := store.JobReportLease{ID: id, LeasedBy: "p", AttemptedAt: *jobs[0].AttemptedAt}
	if ok, err := st.JobProgressSet(ctx, &store.JobProgressSetParams{JobReportLease: lease, Progress: 42}); !ok || err != nil {
		t.Fatalf("set progress: %v, %v", ok, err)
	}
	if ok, err := st.JobLogAppend(ctx, &store.JobLogAppendParams{JobReportLease: lease, Keep: 10, Lines: []store.JobLogAppendLine{
		{At: now, Message: "hello"}, {At: now, Message: "two\nlines"}}}); !ok || err != nil {
		t.Fatalf("append log: %v, %v", ok, err)
	}

	r := mustRun(t, "jobs", "show", fmt.Sprint(id), "--database", db)
	for _, want := range []string{"progress:", "42%", "Log (2 lines):", "#1  hello\n", "#1  two\n" + strings.Repeat(" ", 32) + "lines\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustRun(t, "jobs", "show", fmt.Sprint(id), "--database", db, "--log-lines", "1")
	if !strings.Contains(r.stdout, "Log (last 1 line; --log-lines for more):") || strings.Contains(r.stdout, "hello") {
		t.Errorf("show --log-lines 1:\n%s", r.stdout)
	}
	r = mustRun(t, "jobs", "show", fmt.Sprint(id), "--database", db, "--log-lines", "0")
	if strings.Contains(r.stdout, "Log") {
		t.Errorf("show --log-lines 0 prints a log:\n%s", r.stdout)
	}
	r = mustRun(t, "jobs", "show", fmt.Sprint(id), "--database", db, "--json")
	var shown struct {
		Job *kiln.JobRow       `json:"job"`
		Log []*kiln.JobLogLine `json:"log"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		t.Fatal(err)
	}
	if shown.Job.Progress == nil || *shown.Job.Progress != 42 || len(shown.Log) != 2 || shown.Log[1].Message != "two\nlines" {
		t.Errorf("show --json: %s", r.stdout)
	}
	wantFail(t, runKiln(t, "jobs", "show", fmt.Sprint(id), "--database", db, "--log-lines", "1001"), exitUsage, "--log-lines 1001")
}
