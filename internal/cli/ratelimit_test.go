package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/httpapi"
)

// TestRateLimit: kiln ratelimit sets, lists, shows and deletes a kind's
// rate limit, records the changes in the audit log, and refuses bad
// kinds and limits with a usage error, on SQLite and on PostgreSQL.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		testRateLimit(t, newDB(t))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		db := withParam(postgresURLForTest(t), pgSchemaParam, postgresSchemaForTest(t, ""))
		mustRun(t, "migrate", "--database", db)
		testRateLimit(t, db)
	})
}

func testRateLimit(t *testing.T, db string) {
	if r := mustRun(t, "ratelimit", "list", "--database", db); !strings.Contains(r.stdout, "No rate limits") {
		t.Errorf("list of a new database:\n%s", r.stdout)
	}
	r := mustRun(t, "ratelimit", "set", "geocode", "--limit", "10", "--per", "1m", "--burst", "2", "--database", db)
	if !strings.Contains(r.stdout, "Rate limit of geocode set to 10 per 1m0s, burst 2") {
		t.Errorf("set:\n%s", r.stdout)
	}
	mustRun(t, "rate-limits", "set", "a/b", "--limit", "1", "--per", "24h", "--database", db)
	r = mustRun(t, "ratelimit", "list", "--database", db)
	got := strings.Join(strings.Fields(r.stdout), " ")
	for _, want := range []string{"a/b 1 per 24h0m0s runtime 0 of 1 now", "geocode 10 per 1m0s, burst 2 runtime 0 of 3 now"} {
		if !strings.Contains(got, want) {
			t.Errorf("list has no line %q:\n%s", want, r.stdout)
		}
	}
	r = mustRun(t, "ratelimit", "list", "--json", "--database", db)
	var views []*httpapi.RateLimitView
	if err := json.Unmarshal([]byte(r.stdout), &views); err != nil || len(views) != 2 || views[1].Kind != "geocode" ||
		views[1].Limit.PeriodSeconds != 60 || views[1].Remaining != 3 {
		t.Errorf("list --json: %v\n%s", err, r.stdout)
	}
	r = mustRun(t, "ratelimit", "get", "geocode", "--database", db)
	got = strings.Join(strings.Fields(r.stdout), " ")
	for _, want := range []string{"Limit: 10 per 1m0s, burst 2 Source: runtime Set at: 20", "Used: 0 of 3 (3 may start now) Next slot: now"} {
		if !strings.Contains(got, want) {
			t.Errorf("show has no line %q:\n%s", want, r.stdout)
		}
	}
	if r := mustRun(t, "ratelimit", "show", "nobody", "--database", db); !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), "Limit: none Source: none") {
		t.Errorf("show of a kind without a limit:\n%s", r.stdout)
	}
	mustRun(t, "ratelimit", "rm", "geocode", "--database", db)
	wantFail(t, runKiln(t, "ratelimit", "delete", "geocode", "--database", db), exitError, "no rate limit of geocode")
	r = mustRun(t, "audit", "list", "--database", db)
	for _, want := range []string{"rate_limit.set", "rate_limit.remove"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("audit list has no %s:\n%s", want, r.stdout)
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"set", "geocode", "--limit", "10"}, "needs --limit and --per"},
		{[]string{"set", "geocode", "--per", "1m"}, "needs --limit and --per"},
		{[]string{"set", "geocode", "--limit", "0", "--per", "1m"}, "0 sets no limit"},
		{[]string{"set", "geocode", "--limit", "-1", "--per", "1m"}, "out of range"},
		{[]string{"set", "geocode", "--limit", "1073741825", "--per", "1m"}, "out of range"},
		{[]string{"set", "geocode", "--limit", "99999999999999999999", "--per", "1m"}, "invalid argument"},
		{[]string{"set", "geocode", "--limit", "1", "--per", "-1m"}, "out of range"},
		{[]string{"set", "geocode", "--limit", "1", "--per", "100ns"}, "out of range"},
		{[]string{"set", "geocode", "--limit", "1", "--per", "8785h"}, "out of range"},
		{[]string{"set", "geocode", "--limit", "1", "--per", "soon"}, "invalid argument"},
		{[]string{"set", "geocode", "--limit", "1", "--per", "1m", "--burst", "-1"}, "out of range"},
		{[]string{"set", "bad\xff", "--limit", "1", "--per", "1m"}, "kind"},
		{[]string{"set", strings.Repeat("k", 256), "--limit", "1", "--per", "1m"}, "kind"},
		{[]string{"show", "bad\xff"}, "kind"},
		{[]string{"delete", "nul\x00"}, "kind"},
		{[]string{"show"}, "takes a kind"},
	} {
		args := append(append([]string{"ratelimit"}, c.args...), "--database", db)
		wantFail(t, runKiln(t, args...), exitUsage, c.want)
	}
	r = mustRun(t, "ratelimit", "list", "--database", db)
	if strings.Contains(r.stdout, "geocode") || !strings.Contains(r.stdout, "a/b") {
		t.Errorf("after the refusals:\n%s", r.stdout)
	}
}
