package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/demo"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestDemo(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "demo.db")
	r := mustRun(t, "demo", "--for", "4s", "--database", db)
	lines := strings.Split(r.stdout, "\n")
	if !strings.HasPrefix(lines[0], "Kiln demo:") || !strings.Contains(lines[0], "Ctrl+C") {
		t.Errorf("first line %q does not say what the demo is and how to stop it", lines[0])
	}
	for _, want := range []string{"enqueued", "started", "completed", "demo.write_file", "(batch)", "Stopped after", "Jobs in " + db} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	// --for is how long the jobs ran (the setup before is not counted),
	// and the jobs enqueued are all of them, recurring ones included: in a
	// fresh database, as many as it holds at the end.
	m := regexp.MustCompile(`Stopped after running for (\S+) \(then \S+ to stop\)\. In this run: (\d+) jobs enqueued \((\d+) by the demo, (\d+) by recurring entries\)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("demo output lacks its summary:\n%s", r.stdout)
	}
	if ran, err := time.ParseDuration(m[1]); err != nil || ran < 4*time.Second {
		t.Errorf("--for 4s: the demo ran for %s (%v)", m[1], err)
	}
	total, _ := strconv.Atoi(m[2])
	byDemo, _ := strconv.Atoi(m[3])
	byRecurring, _ := strconv.Atoi(m[4])
	if byRecurring < 1 || total != byDemo+byRecurring {
		t.Errorf("summary %q: want recurring jobs (the cron entry is triggered) counted in the total", m[0])
	}
	held := 0
	counts := regexp.MustCompile(`Jobs in .*: (.*)\.\n`).FindStringSubmatch(r.stdout)
	if counts == nil {
		t.Fatalf("demo output lacks the jobs in the database:\n%s", r.stdout)
	}
	for c := range strings.SplitSeq(counts[1], ", ") {
		var n int
		var state string
		if _, err := fmt.Sscanf(c, "%d %s", &n, &state); err != nil {
			t.Fatalf("count %q: %v", c, err)
		}
		held += n
	}
	if total != held {
		t.Errorf("the summary says %d jobs enqueued; the fresh database holds %d (%s)", total, held, counts[1])
	}

	// Routine log records (started, leader elected) stay out of the live
	// table by default.
	if strings.Contains(r.stderr, "level=INFO") {
		t.Errorf("the demo logs at info level while its table runs:\n%s", r.stderr)
	}

	// The closing hint names a command that works: this test's binary was
	// built by go test, as go run builds kiln, in this directory of the
	// module.
	if exe, err := os.Executable(); err == nil && builtByGoRun(exe, "") {
		if want := "See them with: go run ../../cmd/kiln jobs list --database " + shellQuote(db) + "\n"; !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks the hint %q:\n%s", want, r.stdout)
		}
	}

	// A continuation waits for its parents (when it runs is the resolver's
	// business: TestLiveViewContinuation checks its line); a cron entry in
	// a time zone is triggered; a job is cancelled.
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`enqueued +\d+ +demo\.checksum +- +continuation: waits for jobs \d+, \d+ to complete`),
		regexp.MustCompile(`enqueued +\d+ +demo\.checksum +- +recurring demo\.weekday-report, cron "30 9 \* \* 1-5" in Europe/Berlin, triggered now; next run \w{3} \w{3} \d+ 09:30 CES?T`),
		regexp.MustCompile(`cancel +(\d+) +demo\.sleep +- +Client\.JobCancel`),
	} {
		if !want.MatchString(r.stdout) {
			t.Errorf("demo output lacks a line matching %s:\n%s", want, r.stdout)
		}
	}
	// The job is cancelled: 1 s after it started (or, on a slow machine,
	// when the run ends).
	if m := regexp.MustCompile(`cancel +(\d+) +demo\.sleep +- +Client\.JobCancel, (.*)`).FindStringSubmatch(r.stdout); m != nil {
		if strings.HasPrefix(m[2], "1s after it started") && !regexp.MustCompile(`cancelled +`+m[1]+` +demo\.sleep +1/\d+ +error: .*cancel`).MatchString(r.stdout) {
			t.Errorf("no cancelled event for job %s:\n%s", m[1], r.stdout)
		}
		if r := mustRun(t, "jobs", "list", "--database", db, "--state", "cancelled"); !regexp.MustCompile(`(?m)^` + m[1] + ` +demo\.sleep`).MatchString(r.stdout) {
			t.Errorf("job %s is not cancelled:\n%s", m[1], r.stdout)
		}
	}
	// The jobs stay in the database.
	if r := mustRun(t, "jobs", "list", "--database", db, "--state", "completed"); !strings.Contains(r.stdout, "demo.") {
		t.Errorf("no completed demo jobs in the database:\n%s", r.stdout)
	}

	// A second run cancels what the first left unfinished, continuations
	// that wait for their parents (pending) too.
	pending := enqueuePendingDemoJob(t, db)
	r = mustRun(t, "demo", "--for", "1s", "--database", db, "--log-level", "info")
	if !strings.Contains(r.stdout, "left by an earlier run") {
		t.Errorf("second run:\n%s", r.stdout)
	}
	// Asked for, the info records come as lines of the table.
	logLine := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3}  log +level=[A-Z]+ msg=`)
	if !strings.Contains(r.stderr, `msg="kiln: started"`) {
		t.Errorf("--log-level info: no info records:\n%s", r.stderr)
	}
	for line := range strings.SplitSeq(strings.TrimSpace(r.stderr), "\n") {
		if strings.Contains(line, "level=") && !logLine.MatchString(line) {
			t.Errorf("log line %q is not a line of the live table", line)
		}
	}
	st, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if job, err := st.JobGet(context.Background(), &store.JobGetParams{ID: pending}); err != nil || job.State != kiln.JobStateCancelled {
		t.Errorf("the pending continuation left by an earlier run: %+v, %v; want it cancelled", job, err)
	}
}

// enqueuePendingDemoJob enqueues into db a demo continuation whose parent
// (of a kind the demo leaves alone) runs in an hour, and returns the
// continuation's ID: a job left pending.
func enqueuePendingDemoJob(t *testing.T, db string) int64 {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	client, err := kiln.NewClient(&kiln.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := client.Enqueue(ctx, kiln.RawArgs{JobKind: "test.other", JSON: []byte(`{}`)}, &kiln.EnqueueOpts{RunIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	child, err := client.Enqueue(ctx, demo.SleepArgs{}, &kiln.EnqueueOpts{Parents: []int64{parent.Job.ID}})
	if err != nil || child.Job.State != kiln.JobStatePending {
		t.Fatalf("enqueue a continuation: %+v, %v; want it pending", child, err)
	}
	return child.Job.ID
}

// TestLiveViewContinuation checks the live table's lines for a
// continuation: enqueued, it waits for its parents; started, they have
// completed.
func TestLiveViewContinuation(t *testing.T) {
	var out strings.Builder
	v := &liveView{out: &out, tally: map[kiln.EventKind]int{}}
	now := time.Now()
	job := &kiln.JobRow{ID: 9, Kind: "demo.checksum", State: kiln.JobStatePending, Attempt: 0, MaxAttempts: 25,
		CreatedAt: now, ScheduledAt: now, Metadata: []byte(`{"kiln.parent_ids":[3,4]}`)}
	v.enqueued(job, "checksums")
	running := *job
	running.State, running.Attempt = kiln.JobStateRunning, 1
	v.event(&kiln.Event{Kind: kiln.EventJobStarted, Job: &running, At: now})
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`enqueued +9 +demo\.checksum +- +continuation: waits for jobs 3, 4 to complete: checksums\n`),
		regexp.MustCompile(`started +9 +demo\.checksum +1/25 +continuation: jobs 3, 4 completed\n`),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("live view lacks a line matching %s:\n%s", want, out.String())
		}
	}
}
