package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
)

func TestEnqueueKnownKind(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	r := mustRun(t, "enqueue", "http", "--database", db,
		"--args", `{"url":"https://example.com/hook","body":{"id":42}}`, "--tag", "a", "--tag", "b", "--priority", "2")
	for _, want := range []string{"Enqueued job 1.", "kind:         http", "state:        available", "scheduled_at: "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = mustRun(t, "enqueue", "demo.sleep", "--database", db, "--args", `{"millis":5}`,
		"--in", "10m", "--queue", "slow", "--max-attempts", "3", "--json")
	var row kiln.JobRow
	if err := json.Unmarshal([]byte(r.stdout), &row); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if row.ID != 2 || row.Kind != "demo.sleep" || row.State != kiln.JobStateScheduled || row.Queue != "slow" || row.MaxAttempts != 3 {
		t.Errorf("enqueued %+v", row)
	}
	if d := time.Until(row.ScheduledAt); d < 9*time.Minute || d > 11*time.Minute {
		t.Errorf("scheduled_at %s is not in 10 minutes", row.ScheduledAt)
	}
	if compactJSON(row.Args) != `{"millis":5}` {
		t.Errorf("args %s", row.Args)
	}

	r = mustRun(t, "enqueue", "demo.sleep", "--database", db, "--args", `{"millis":5}`, "--partition", "tenant-42", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &row); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if row.Partition != "tenant-42" {
		t.Errorf("--partition tenant-42 enqueued a job of partition %q", row.Partition)
	}

	at := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r = mustRun(t, "enqueue", "demo.flaky", "--database", db, "--at", at.Format(time.RFC3339), "--json")
	if err := json.Unmarshal([]byte(r.stdout), &row); err != nil {
		t.Fatal(err)
	}
	if !row.ScheduledAt.Equal(at) {
		t.Errorf("scheduled_at %s, want %s", row.ScheduledAt, at)
	}
}

func TestEnqueueUnique(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	mustRun(t, "enqueue", "demo.sleep", "--database", db, "--unique", "--in", "1h")
	r := mustRun(t, "enqueue", "demo.sleep", "--database", db, "--unique", "--in", "1h")
	if !strings.Contains(r.stdout, "nothing was enqueued") || !strings.Contains(r.stdout, "id:           1") {
		t.Errorf("second unique enqueue printed:\n%s", r.stdout)
	}
}

func TestEnqueueUnknownKind(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	r := runKiln(t, "enqueue", "email.send", "--database", db, "--args", `{"to":"a@example.com"}`)
	wantFail(t, r, exitError, `unknown job kind "email.send"`, "--any-kind")

	// --any-kind stores it as is.
	r = mustRun(t, "enqueue", "email.send", "--any-kind", "--database", db, "--args", `{"to":"a@example.com"}`, "--json")
	var row kiln.JobRow
	if err := json.Unmarshal([]byte(r.stdout), &row); err != nil {
		t.Fatal(err)
	}
	if row.Kind != "email.send" || compactJSON(row.Args) != `{"to":"a@example.com"}` {
		t.Errorf("enqueued %+v", row)
	}
}

func TestEnqueueInvalidArgs(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	tests := []struct {
		args []string
		want string
		also string
	}{
		{[]string{"http", "--args", `{"url":`}, "--args is not valid JSON", ""},
		{[]string{"http", "--args", `{url: 1}`}, "--args is not valid JSON", ""},
		{[]string{"email.send", "--any-kind", "--args", `nope`}, "--args is not valid JSON", ""},
		{[]string{"http", "--args", `{"ulr":"https://example.com"}`}, `unknown field "ulr"`, ""},
		{[]string{"http", "--args", `{"url":"/relative"}`}, "absolute http or https URL", ""},
		{[]string{"http", "--args", `[1,2]`}, `invalid --args: args: got a JSON array: the args of kind "http" do not decode`, ""},
		{[]string{"http", "--args", `{"url":"https://example.com/\u0000"}`}, "invalid --args", "NUL"},
		{[]string{"demo.sleep", "--in", "1m", "--at", "2030-01-01T00:00:00Z"}, "--in or --at, not both", ""},
		{[]string{"demo.sleep", "--at", "tomorrow"}, `invalid --at "tomorrow"`, ""},
		{[]string{"demo.sleep", "--in", "-5s"}, "negative", ""},
		{[]string{"demo.sleep", "--priority", "9"}, "invalid --priority: priority: 9 is out of range 1 to 4", ""},
		{[]string{"demo.sleep", "--max-attempts", "4294967297"}, "invalid --max-attempts: max_attempts: 4294967297 is out of range 1 to 2147483647", ""},
		{[]string{"demo.sleep", "--max-attempts", "-1"}, "invalid --max-attempts", ""},
		{[]string{"demo.sleep", "--tag", "a\x00"}, "invalid --tag: tags[0]", "NUL"},
		{[]string{"demo.sleep", "--partition", "a\x00"}, "invalid --partition", "NUL"},
		{[]string{"demo.sleep", "--partition", strings.Repeat("k", 10000)}, "invalid --partition", ""},
		{[]string{"email.send", "--any-kind", "--args", `{"s":"\u0000"}`}, "invalid --args", "NUL"},
		{[]string{"email.send", "--any-kind", "--args", `{"s":"` + strings.Repeat("x", 1<<20) + `"}`}, "invalid --args", "Config.MaxArgsBytes"},
		{[]string{"demo.sleep", "--in", "soon"}, "invalid argument", ""},
		{[]string{}, "takes one KIND", ""},
	}
	for _, tt := range tests {
		name := strings.Join(tt.args, " ")
		t.Run(name[:min(len(name), 80)], func(t *testing.T) {
			wantFail(t, runKiln(t, append(append([]string{"enqueue"}, tt.args...), "--database", db)...), exitUsage, tt.want, tt.also)
		})
	}
	if r := mustRun(t, "jobs", "list", "--database", db); !strings.Contains(r.stdout, "No jobs.") {
		t.Errorf("a failed enqueue stored a job:\n%s", r.stdout)
	}
}

// TestArgsFromFileAndStdin checks --args @FILE and --args - of enqueue and
// recurring add/update: args of some megabytes cannot pass on a command
// line (Linux takes at most 128 KiB in one argument).
func TestArgsFromFileAndStdin(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	big := `{"blob":"` + strings.Repeat("x", 512<<10) + `"}`
	file := filepath.Join(t.TempDir(), "args.json")
	if err := os.WriteFile(file, []byte(big+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stored := func(r result) string {
		t.Helper()
		if r.code != exitOK {
			t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
		}
		var row kiln.JobRow
		if err := json.Unmarshal([]byte(r.stdout), &row); err != nil {
			t.Fatalf("--json output: %v", err)
		}
		return compactJSON(row.Args)
	}
	if got := stored(runKiln(t, "enqueue", "big", "--any-kind", "--database", db, "--json", "--args", "@"+file)); got != big {
		t.Errorf("--args @FILE stored %d bytes, want the file's %d", len(got), len(big))
	}
	if got := stored(runKilnStdin(t, ctx, nil, big, "enqueue", "big", "--any-kind", "--database", db, "--json", "--args", "-")); got != big {
		t.Errorf("--args - stored %d bytes, want stdin's %d", len(got), len(big))
	}
	// A known kind's args are checked as usual.
	r := runKilnStdin(t, ctx, nil, `{"millis":5}`, "enqueue", "demo.sleep", "--database", db, "--json", "--args", "-")
	if got := stored(r); got != `{"millis":5}` {
		t.Errorf("demo.sleep from stdin stored %s", got)
	}

	mustRun(t, "recurring", "add", "nightly", "--database", db, "--schedule", "@daily", "--kind", "big", "--any-kind", "--args", "@"+file)
	mustRun(t, "recurring", "update", "nightly", "--database", db, "--any-kind", "--args", "@"+file)
	r = runKilnStdin(t, ctx, nil, `{"n":1}`, "recurring", "update", "nightly", "--database", db, "--any-kind", "--args", "-")
	if r.code != exitOK {
		t.Fatalf("recurring update --args -: exit %d\n%s", r.code, r.stderr)
	}
	if r := mustRun(t, "recurring", "show", "nightly", "--database", db); !strings.Contains(r.stdout, `"n": 1`) && !strings.Contains(r.stdout, `{"n":1}`) {
		t.Errorf("recurring show after --args -:\n%s", r.stdout)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"a":`), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.json")
	wantFail(t, runKiln(t, "enqueue", "big", "--any-kind", "--database", db, "--args", "@"+bad), exitUsage, "--args @"+bad+" is not valid JSON")
	wantFail(t, runKiln(t, "enqueue", "big", "--any-kind", "--database", db, "--args", "@"+missing), exitUsage, "--args @"+missing, "no such file")
	wantFail(t, runKiln(t, "enqueue", "big", "--any-kind", "--database", db, "--args", "@"), exitUsage, "want a file name after @")
	wantFail(t, runKilnStdin(t, ctx, nil, "", "enqueue", "big", "--any-kind", "--database", db, "--args", "-"), exitUsage, "--args - (stdin) is not valid JSON")
	wantFail(t, runKiln(t, "recurring", "add", "x", "--database", db, "--schedule", "@daily", "--kind", "big", "--any-kind", "--args", "@"+missing), exitUsage, "--args @"+missing)
}
