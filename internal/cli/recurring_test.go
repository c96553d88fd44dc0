package cli

import (
	"strings"
	"testing"
)

func TestRecurringRoundTrip(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	r := mustRun(t, "recurring", "add", "nightly", "--database", db, "--schedule", "0 2 * * *", "--tz", "Europe/Berlin",
		"--kind", "http", "--args", `{"url":"http://127.0.0.1:1/report","method":"POST"}`)
	if !strings.Contains(r.stdout, `Recurring job "nightly" added: 0 2 * * *`) || !strings.Contains(r.stdout, "at 02:00") {
		t.Errorf("add:\n%s", r.stdout)
	}
	wantFail(t, runKiln(t, "recurring", "add", "nightly", "--database", db, "--schedule", "@daily", "--kind", "http",
		"--args", `{"url":"http://127.0.0.1:1/"}`), exitError, `recurring job "nightly" exists`)

	r = mustRun(t, "recurring", "list", "--database", db)
	if !strings.Contains(r.stdout, "nightly") || !strings.Contains(r.stdout, "Europe/Berlin") || !strings.Contains(r.stdout, "active") {
		t.Errorf("list:\n%s", r.stdout)
	}
	mustRun(t, "recurring", "update", "nightly", "--database", db, "--schedule", "30 3 * * *")
	r = mustRun(t, "recurring", "show", "nightly", "--database", db)
	for _, want := range []string{"30 3 * * *", "Europe/Berlin", "kind http", "overlap skip", "Next runs:", "none yet"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show after update lacks %q:\n%s", want, r.stdout)
		}
	}
	mustRun(t, "recurring", "pause", "nightly", "--database", db)
	if r = mustRun(t, "recurring", "list", "--database", db); !strings.Contains(r.stdout, "paused") {
		t.Errorf("list after pause:\n%s", r.stdout)
	}
	r = mustRun(t, "recurring", "trigger", "nightly", "--database", db)
	if !strings.Contains(r.stdout, "enqueued job 1") {
		t.Errorf("trigger:\n%s", r.stdout)
	}
	if r = mustRun(t, "recurring", "show", "nightly", "--database", db); !strings.Contains(r.stdout, "job 1  available") {
		t.Errorf("show after trigger:\n%s", r.stdout)
	}
	mustRun(t, "recurring", "resume", "nightly", "--database", db)
	mustRun(t, "recurring", "remove", "nightly", "--database", db)
	wantFail(t, runKiln(t, "recurring", "show", "nightly", "--database", db), exitError, `recurring job "nightly" not found`)
}

func TestRecurringAddRejectsBadInput(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	wantFail(t, runKiln(t, "recurring", "add", "x", "--database", db, "--schedule", "0 25 * * *", "--kind", "demo.sleep"),
		exitUsage, "hour field")
	wantFail(t, runKiln(t, "recurring", "add", "x", "--database", db, "--schedule", "@daily", "--tz", "Nowhere/City", "--kind", "demo.sleep"),
		exitUsage, "Nowhere/City")
	wantFail(t, runKiln(t, "recurring", "add", "x", "--database", db, "--schedule", "@daily", "--kind", "report.build"),
		exitError, `"report.build"`, "--any-kind")
	mustRun(t, "recurring", "add", "x", "--database", db, "--schedule", "@daily", "--kind", "report.build", "--any-kind")
}

func TestCronNext(t *testing.T) {
	t.Parallel()
	r := mustRun(t, "cron", "next", "30 2 * * *", "--tz", "America/New_York", "--after", "2026-03-07T12:00:00Z", "-n", "2")
	// 2026-03-08 02:30 does not exist in New York: it runs at the jump, 03:00 EDT.
	for _, want := range []string{"at 02:30", "Sun 2026-03-08 03:00:00 EDT   2026-03-08T07:00:00Z", "Mon 2026-03-09 02:30:00 EDT"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("cron next lacks %q:\n%s", want, r.stdout)
		}
	}
	wantFail(t, runKiln(t, "cron", "next", "61 * * * *"), exitUsage, "minute field")
}
