package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/httpapi"
)

// TestRateLimit: kiln ratelimit sets, lists, shows and deletes a kind's
// rate limit and, with --per-key, its partition keys' one beside it, records the changes in the audit log, and refuses bad
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
	for _, want := range []string{"a/b kind 1 per 24h0m0s runtime 0 of 1 now", "geocode kind 10 per 1m0s, burst 2 runtime 0 of 3 now"} {
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
	for _, want := range []string{"Scope: the kind (one budget) Limit: 10 per 1m0s, burst 2 Source: runtime Set at: 20",
		"Used: 0 of 3 (3 may start now) Next slot: now"} {
		if !strings.Contains(got, want) {
			t.Errorf("show has no line %q:\n%s", want, r.stdout)
		}
	}
	if r := mustRun(t, "ratelimit", "show", "nobody", "--database", db); !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), "Limit: none Source: none") {
		t.Errorf("show of a kind without a limit:\n%s", r.stdout)
	}

	// A per-key limit of the same kind, beside the kind's own.
	if r := mustRun(t, "ratelimit", "show", "geocode", "--per-key", "--database", db); !strings.Contains(
		strings.Join(strings.Fields(r.stdout), " "), "Scope: each partition key (its own budget; the busiest key's use) Limit: none Source: none") {
		t.Errorf("show --per-key before it is set:\n%s", r.stdout)
	}
	r = mustRun(t, "ratelimit", "set", "geocode", "--per-key", "--limit", "1", "--per", "1m", "--database", db)
	if !strings.Contains(r.stdout, "Rate limit of geocode (per partition key) set to 1 per 1m0s") {
		t.Errorf("set --per-key:\n%s", r.stdout)
	}
	r = mustRun(t, "ratelimit", "list", "--database", db)
	got = strings.Join(strings.Fields(r.stdout), " ")
	if want := "geocode kind 10 per 1m0s, burst 2 runtime 0 of 3 now geocode per key 1 per 1m0s runtime 0 of 1 now"; !strings.Contains(got, want) {
		t.Errorf("list has no lines %q:\n%s", want, r.stdout)
	}
	r = mustRun(t, "ratelimit", "list", "--json", "--database", db)
	views = nil
	if err := json.Unmarshal([]byte(r.stdout), &views); err != nil || len(views) != 3 || views[1].PerKey ||
		views[2].Kind != "geocode" || !views[2].PerKey || views[2].Limit.Limit != 1 {
		t.Errorf("list --json with a per-key limit: %v\n%s", err, r.stdout)
	}
	r = mustRun(t, "ratelimit", "show", "geocode", "--per-key", "--json", "--database", db)
	var v httpapi.RateLimitView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || !v.PerKey || v.Source != "runtime" || v.Limit.Limit != 1 {
		t.Errorf("show --per-key --json: %v\n%s", err, r.stdout)
	}
	r = mustRun(t, "ratelimit", "delete", "geocode", "--per-key", "--database", db)
	if !strings.Contains(r.stdout, "Rate limit of geocode (per partition key) deleted") {
		t.Errorf("delete --per-key:\n%s", r.stdout)
	}
	wantFail(t, runKiln(t, "ratelimit", "delete", "geocode", "--per-key", "--database", db), exitError,
		"no rate limit of geocode (per partition key)")
	if r := mustRun(t, "ratelimit", "show", "geocode", "--database", db); !strings.Contains(r.stdout, "10 per 1m0s, burst 2") {
		t.Errorf("deleting the per-key limit changed the kind's:\n%s", r.stdout)
	}

	mustRun(t, "ratelimit", "rm", "geocode", "--database", db)
	wantFail(t, runKiln(t, "ratelimit", "delete", "geocode", "--database", db), exitError, "no rate limit of geocode")
	r = mustRun(t, "audit", "list", "--database", db)
	for _, want := range []string{"rate_limit.set", "rate_limit.remove", `"per_key":true`} {
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
		{[]string{"set", "geocode", "--per-key", "--limit", "0", "--per", "1m"}, "0 sets no limit"},
		{[]string{"set", "geocode", "--per-key", "--limit", "1"}, "needs --limit and --per"},
		{[]string{"set", "bad\xff", "--per-key", "--limit", "1", "--per", "1m"}, "kind"},
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
