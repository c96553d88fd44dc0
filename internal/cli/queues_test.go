package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
)

// skipUnlessQueuesRegistered skips t while the kiln command lacks the
// queues subcommand (newQueuesCmd in newRootCmd's AddCommand); once it has
// it, this does nothing.
func skipUnlessQueuesRegistered(t *testing.T) {
	t.Helper()
	for _, c := range newRootCmd(kilnEnv(nil).get).Commands() {
		if c.Name() == "queues" {
			return
		}
	}
	t.Skip("newQueuesCmd is not added to the kiln command in root.go yet")
}

func TestQueuesPauseListResume(t *testing.T) {
	t.Parallel()
	skipUnlessQueuesRegistered(t)
	db := newDB(t)
	if r := mustRun(t, "queues", "list", "--database", db); !strings.Contains(r.stdout, "No queues") {
		t.Errorf("list of an empty database:\n%s", r.stdout)
	}
	mustRun(t, "enqueue", "demo.sleep", "--queue", "emails", "--database", db)
	mustRun(t, "enqueue", "demo.sleep", "--queue", "emails", "--in", "1h", "--database", db)
	mustRun(t, "enqueue", "demo.sleep", "--database", db)

	r := mustRun(t, "queues", "pause", "emails", "--database", db)
	if !strings.Contains(r.stdout, "Queue emails paused") {
		t.Errorf("pause:\n%s", r.stdout)
	}
	mustRun(t, "queues", "pause", "emails", "--database", db) // pausing twice is harmless
	r = mustRun(t, "queues", "list", "--database", db)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "QUEUE") {
		t.Fatalf("list:\n%s", r.stdout)
	}
	// QUEUE STATUS AVAILABLE SCHEDULED RUNNING RETRYABLE OLDEST AVAILABLE
	if f := strings.Fields(lines[1]); len(f) != 7 || f[0] != "default" || f[1] != "active" || f[2] != "1" || f[3] != "0" {
		t.Errorf("default's line: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) != 7 || f[0] != "emails" || f[1] != "paused" || f[2] != "1" || f[3] != "1" ||
		f[4] != "0" || f[5] != "0" {
		t.Errorf("emails' line: %q", lines[2])
	}

	r = mustRun(t, "queues", "list", "--json", "--database", db)
	var rows []*kiln.QueueRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	if len(rows) != 2 || rows[1].Name != "emails" || !rows[1].Paused || rows[1].Available != 1 ||
		rows[1].Scheduled != 1 || rows[1].OldestAvailableAt == nil || rows[1].UpdatedAt == nil {
		t.Errorf("list --json:\n%s", r.stdout)
	}

	r = mustRun(t, "queues", "resume", "emails", "--database", db)
	if !strings.Contains(r.stdout, "Queue emails resumed") {
		t.Errorf("resume:\n%s", r.stdout)
	}
	if r = mustRun(t, "queues", "list", "--database", db); strings.Contains(r.stdout, "paused") {
		t.Errorf("list after resume:\n%s", r.stdout)
	}
}

func TestQueuesRejectsBadInput(t *testing.T) {
	t.Parallel()
	skipUnlessQueuesRegistered(t)
	db := newDB(t)
	wantFail(t, runKiln(t, "queues", "pause", "--database", db), exitUsage, "one queue name")
	wantFail(t, runKiln(t, "queues", "resume", "a", "b", "--database", db), exitUsage, "one queue name")
	wantFail(t, runKiln(t, "queues", "list", "extra", "--database", db), exitUsage, "takes no arguments")
	wantFail(t, runKiln(t, "queues", "stop", "--database", db), exitUsage, `unknown command "stop"`)
	wantFail(t, runKiln(t, "queues", "pause", "two words", "--database", db), exitError, "invalid queue name")
}

func TestPrintQueues(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	oldest := now.Add(-90 * time.Second)
	var b strings.Builder
	if err := printQueues(&b, []*kiln.QueueRow{
		{Name: "default", Available: 12345, Running: 3, OldestAvailableAt: &oldest},
		{Name: "emails", Paused: true, Scheduled: 2, Retryable: 1},
	}, now); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"QUEUE    STATUS  AVAILABLE  SCHEDULED  RUNNING  RETRYABLE  OLDEST AVAILABLE",
		"default  active  12,345     0          3        0          1m30s",
		"emails   paused  0          2          0        1          -",
	}
	if got := strings.Split(strings.TrimRight(b.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("printQueues:\n%s\nwant:\n%s", b.String(), strings.Join(want, "\n"))
	}
	b.Reset()
	if err := printQueues(&b, nil, now); err != nil || !strings.Contains(b.String(), "No queues") {
		t.Errorf("printQueues of no queues: %q, %v", b.String(), err)
	}
}
