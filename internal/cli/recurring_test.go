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
	if r = mustRun(t, "jobs", "show", "1", "--database", db); strings.Contains(r.stdout, "partition:") {
		t.Errorf("a job without a partition key shows one:\n%s", r.stdout)
	}
	mustRun(t, "recurring", "resume", "nightly", "--database", db)

	// A partition key: given by add or update, kept by an update without
	// --partition, removed with --partition "", carried by the jobs.
	mustRun(t, "recurring", "add", "per-tenant", "--database", db, "--schedule", "@hourly", "--kind", "demo.sleep",
		"--partition", "tenant-a")
	r = mustRun(t, "recurring", "list", "--database", db)
	if got := strings.Join(strings.Fields(r.stdout), " "); !strings.Contains(got, "PARTITION") ||
		!strings.Contains(got, "per-tenant @hourly UTC demo.sleep tenant-a") || !strings.Contains(got, "Europe/Berlin http - ") {
		t.Errorf("list with a partition key:\n%s", r.stdout)
	}
	mustRun(t, "recurring", "update", "per-tenant", "--database", db, "--schedule", "@daily")
	if r = mustRun(t, "recurring", "show", "per-tenant", "--database", db); !strings.Contains(r.stdout, "Partition  tenant-a") {
		t.Errorf("show after an update without --partition:\n%s", r.stdout)
	}
	r = mustRun(t, "recurring", "trigger", "per-tenant", "--database", db)
	if !strings.Contains(r.stdout, "enqueued job 2") {
		t.Errorf("trigger:\n%s", r.stdout)
	}
	if r = mustRun(t, "jobs", "show", "2", "--database", db); !strings.Contains(r.stdout, "partition:") || !strings.Contains(r.stdout, "tenant-a") {
		t.Errorf("the triggered job lacks its partition key:\n%s", r.stdout)
	}
	mustRun(t, "recurring", "update", "per-tenant", "--database", db, "--partition", "")
	if r = mustRun(t, "recurring", "show", "per-tenant", "--database", db); strings.Contains(r.stdout, "Partition") {
		t.Errorf("show after --partition \"\":\n%s", r.stdout)
	}
	wantFail(t, runKiln(t, "recurring", "update", "per-tenant", "--database", db, "--partition", "t\xff"),
		exitUsage, "--partition")

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
	wantFail(t, runKiln(t, "recurring", "add", "x", "--database", db, "--schedule", "@daily", "--kind", "demo.sleep", "--max-attempts", "2147483648"),
		exitUsage, "invalid --max-attempts: max_attempts: 2147483648 is out of range 1 to 2147483647")
	wantFail(t, runKiln(t, "recurring", "add", "x", "--database", db, "--schedule", "@daily", "--kind", "demo.sleep", "--misfire-max", "10001"),
		exitUsage, "invalid --misfire-max")
	wantFail(t, runKiln(t, "recurring", "add", "x", "--database", db, "--schedule", "@daily", "--kind", "demo.sleep", "--args", `{"milis":5}`),
		exitUsage, `invalid --args: args.milis: unknown field "milis"`)
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

// TestRecurringNextRunsTruthful checks what list and show say about next
// runs: none for a paused entry, and in the entry's zone as well as UTC.
func TestRecurringNextRunsTruthful(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	mustRun(t, "recurring", "add", "nightly", "--database", db, "--schedule", "0 2 * * *", "--tz", "Europe/Berlin",
		"--kind", "demo.sleep")
	r := mustRun(t, "recurring", "show", "nightly", "--database", db)
	_, runs, _ := strings.Cut(r.stdout, "Next runs:")
	runs, _, _ = strings.Cut(runs, "Latest runs:")
	lines := strings.Split(strings.TrimSpace(runs), "\n")
	if len(lines) != 5 {
		t.Fatalf("show lists %d next runs, want 5:\n%s", len(lines), r.stdout)
	}
	for _, line := range lines {
		// 02:00 in Berlin is 00:00 or 01:00 UTC.
		if !strings.Contains(line, " 02:00:00 CE") || !strings.Contains(line, ":00:00Z") {
			t.Errorf("next run %q is not given in Europe/Berlin and in UTC", line)
		}
	}

	mustRun(t, "recurring", "pause", "nightly", "--database", db)
	r = mustRun(t, "recurring", "list", "--database", db)
	row := strings.Fields(strings.Split(strings.TrimSpace(r.stdout), "\n")[1])
	if row[0] != "nightly" || row[len(row)-1] != "paused" || strings.Contains(r.stdout, ":00Z") || strings.Contains(r.stdout, "T0") {
		t.Errorf("list shows a next run for a paused entry:\n%s", r.stdout)
	}
	if r = mustRun(t, "recurring", "show", "nightly", "--database", db); !strings.Contains(r.stdout, "none while paused") {
		t.Errorf("show of a paused entry:\n%s", r.stdout)
	}
}

// TestCronNextExact checks that cron next shows fractions of a second and
// never prints a time RFC 3339 cannot write.
func TestCronNextExact(t *testing.T) {
	t.Parallel()
	r := mustRun(t, "cron", "next", "@every 1.5s", "--after", "2026-01-01T00:00:00Z", "-n", "2")
	for _, want := range []string{"2026-01-01T00:00:01.5Z", "Thu 2026-01-01 00:00:01.5 UTC", "2026-01-01T00:00:03Z"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("cron next @every 1.5s lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustRun(t, "cron", "next", "@every 1h", "--after", "9999-12-31T22:30:00Z", "-n", "3")
	if !strings.Contains(r.stdout, "9999-12-31T23:00:00Z") || !strings.Contains(r.stdout, "RFC 3339 ends with year 9999") ||
		strings.Contains(r.stdout, "10000") {
		t.Errorf("cron next at the end of year 9999:\n%s", r.stdout)
	}
	r = mustRun(t, "cron", "next", "* * * * *", "--after", "9999-12-31T23:59:59Z")
	if strings.Contains(r.stdout, "10000") || !strings.Contains(r.stdout, "RFC 3339 ends with year 9999") {
		t.Errorf("cron next after the last second of year 9999:\n%s", r.stdout)
	}
	if !strings.Contains(mustRun(t, "cron", "next", "*/59 * * * *").stdout, "at minutes 0 and 59 of every hour") {
		t.Error("cron next describes */59 as something else than minutes 0 and 59")
	}
}
