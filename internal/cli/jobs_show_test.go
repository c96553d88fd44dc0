package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestJobsShowProgressAndLog(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	id := enqueueID(t, db, "demo.sleep", "--queue", "show")
	ctx := context.Background()
	// Claim the job and report as its worker would.
	st, job, now := claimOnly(t, db, "show", "p")
	lease := store.JobReportLease{ID: id, LeasedBy: "p", AttemptedAt: *job.AttemptedAt}
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

// TestJobsShowAndListCutLongArgs checks that jobs show prints the first
// 4 KiB of long args with their size unless --full, and that jobs list
// --json lists them cut, as the HTTP API does.
func TestJobsShowAndListCutLongArgs(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	args := `{"pad":"` + strings.Repeat("x", 512<<10) + `"}`
	ctx := context.Background()
	r := runKilnStdin(t, ctx, nil, args, "enqueue", "big", "--any-kind", "--database", db, "--args", "-")
	if r.code != exitOK {
		t.Fatalf("enqueue: %s", r.stderr)
	}
	small := enqueueID(t, db, "demo.sleep")

	r = mustRun(t, "jobs", "show", "1", "--database", db)
	if len(r.stdout) > 8<<10 || !strings.Contains(r.stdout, `{"pad":"xxx`) ||
		!strings.Contains(r.stdout, "... cut at 4.0 KiB of 512 KiB; --full prints them all") {
		t.Errorf("jobs show printed %d bytes for 512 KiB of args; want the first 4 KiB and their size:\n%.300s", len(r.stdout), r.stdout)
	}
	if r = mustRun(t, "jobs", "show", "1", "--full", "--database", db); !strings.Contains(r.stdout, strings.Repeat("x", 512<<10)) {
		t.Errorf("jobs show --full did not print the whole args (%d bytes of output)", len(r.stdout))
	}
	var shown struct{ Job *kiln.JobRow }
	if err := json.Unmarshal([]byte(mustRun(t, "jobs", "show", "1", "--json", "--database", db).stdout), &shown); err != nil {
		t.Fatal(err)
	}
	if j := shown.Job; !j.ArgsTruncated || j.ArgsBytes != len(args) || len(j.ArgsPreview) != 4096 {
		t.Errorf("jobs show --json: args_truncated %v, args_bytes %d, args_preview of %d bytes; want true, %d, 4096",
			j.ArgsTruncated, j.ArgsBytes, len(j.ArgsPreview), len(args))
	}
	var whole struct{ Job *kiln.JobRow }
	if err := json.Unmarshal([]byte(mustRun(t, "jobs", "show", "1", "--json", "--full", "--database", db).stdout), &whole); err != nil ||
		compactJSON(whole.Job.Args) != args || whole.Job.ArgsTruncated {
		t.Errorf("jobs show --json --full: %v, truncated %v, %d bytes of args", err, whole.Job.ArgsTruncated, len(whole.Job.Args))
	}

	r = mustRun(t, "jobs", "list", "--json", "--database", db)
	if len(r.stdout) > 8<<10 {
		t.Errorf("jobs list --json printed %d bytes: the long args were not cut", len(r.stdout))
	}
	var page struct{ Jobs []*kiln.JobRow }
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Jobs) != 2 {
		t.Fatalf("jobs list --json: %v, %d jobs", err, len(page.Jobs))
	}
	if j := page.Jobs[1]; !j.ArgsTruncated || j.ArgsBytes != len(args) || len(j.ArgsPreview) != kiln.JobListArgsPreview {
		t.Errorf("listed big job: args_truncated %v, args_bytes %d, args_preview of %d bytes", j.ArgsTruncated, j.ArgsBytes, len(j.ArgsPreview))
	}
	if j := page.Jobs[0]; j.ID != small || j.ArgsTruncated || compactJSON(j.Args) != "{}" {
		t.Errorf("listed small job %d: truncated %v, args %s", j.ID, j.ArgsTruncated, j.Args)
	}
}

// claimOnly opens the SQLite store at db and claims the one job of queue
// for server at the current time, as a worker would; it returns the store
// (closed when the test ends), the job and the claim's time.
func claimOnly(t *testing.T, db, queue, server string) (*sqlite.Store, *kilntype.JobRow, time.Time) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	jobs, err := st.JobClaim(ctx, &store.JobClaimParams{Queue: queue, Max: 1, AnyKind: true, LeasedBy: server,
		LeaseExpiresAt: now.Add(time.Hour), Now: now})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v, %d jobs", err, len(jobs))
	}
	return st, jobs[0], now
}
