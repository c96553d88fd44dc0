package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
)

// listedIDs returns the job IDs of a `jobs list` table, in order.
func listedIDs(t *testing.T, stdout string) []int64 {
	t.Helper()
	var ids []int64
	for _, line := range strings.Split(stdout, "\n") {
		field, _, _ := strings.Cut(line, " ")
		if id, err := strconv.ParseInt(field, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// argsWindowHint matches the hint of a page whose search in args stopped
// at the end of its window, and captures the cursor it gives.
var argsWindowHint = regexp.MustCompile(`(?m)^The search in args stopped after 100,000 job IDs; older jobs may match: add --cursor (\d+) to search on\.$`)

func TestJobsListTagAndArgs(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	enqueue := func(args string, tags ...string) int64 {
		cmd := []string{"report.build", "--any-kind", "--args", args, "--in", "1h"}
		for _, tag := range tags {
			cmd = append(cmd, "--tag", tag)
		}
		return enqueueID(t, db, cmd...)
	}
	a := enqueue(`{"customer":"c-1234","month":"2030-01"}`, "billing")
	b := enqueue(`{"customer":"c-9999","month":"2030-01"}`, "billing", "eu")
	c := enqueue(`{"customer":"c-1234","month":"2030-02"}`, "eu")

	for _, tt := range []struct {
		flags []string
		want  []int64
	}{
		{[]string{"--tag", "billing"}, []int64{b, a}},
		{[]string{"--tag", "eu"}, []int64{c, b}},
		{[]string{"--tag", "EU"}, nil}, // tags match exactly
		{[]string{"--args-contains", "c-1234"}, []int64{c, a}},
		{[]string{"--args-contains", "2030-01"}, []int64{b, a}},
		{[]string{"--args-contains", "C-1234"}, nil}, // case-sensitive
		{[]string{"--tag", "billing", "--args-contains", "c-1234"}, []int64{a}},
		{[]string{"--tag", "eu", "--args-contains", "c-1234", "--kind", "report.build", "--state", "scheduled"}, []int64{c}},
	} {
		r := mustRun(t, append([]string{"jobs", "list", "--database", db}, tt.flags...)...)
		if got := listedIDs(t, r.stdout); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("jobs list %s: IDs %v, want %v\n%s", strings.Join(tt.flags, " "), got, tt.want, r.stdout)
		}
		if tt.want == nil && strings.TrimSpace(r.stdout) != "No jobs." {
			t.Errorf("jobs list %s with no match:\n%s", strings.Join(tt.flags, " "), r.stdout)
		}
	}
	// A full page of an args search is followed by the usual hint.
	r := mustRun(t, "jobs", "list", "--database", db, "--args-contains", "c-1234", "--limit", "1")
	if !strings.Contains(r.stdout, fmt.Sprintf("More jobs follow: add --cursor %d for the next page.", c)) || argsWindowHint.MatchString(r.stdout) {
		t.Errorf("full page of an args search:\n%s", r.stdout)
	}

	wantFail(t, runKiln(t, "jobs", "list", "--database", db, "--tag", ""), exitUsage, "--tag is empty")
	wantFail(t, runKiln(t, "jobs", "list", "--database", db, "--args-contains", ""), exitUsage, "--args-contains is empty")
}

// TestJobsListArgsWindow searches args across a gap of 200,000 job IDs (as
// deleted jobs leave): each page examines one window of
// kiln.JobListScanWindow IDs, so pages are short, one is empty, and each but
// the last prints the cursor that searches on.
func TestJobsListArgsWindow(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	early := enqueueID(t, db, "report.build", "--any-kind", "--args", `{"order":"o-77"}`, "--in", "1h")
	enqueueID(t, db, "report.build", "--any-kind", "--args", `{"order":"o-12"}`, "--in", "1h")
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `UPDATE sqlite_sequence SET seq = seq + 200000 WHERE name = 'kiln_job'`); err != nil {
		t.Fatal(err)
	}
	late := enqueueID(t, db, "report.build", "--any-kind", "--args", `{"order":"o-77"}`, "--in", "1h")

	list := func(flags ...string) string {
		return mustRun(t, append([]string{"jobs", "list", "--database", db, "--args-contains", "o-77", "--limit", "10"}, flags...)...).stdout
	}
	// page returns the IDs a page lists and the cursor its hint gives (0:
	// no hint).
	page := func(stdout string) ([]int64, int64) {
		var cursor int64
		if m := argsWindowHint.FindStringSubmatch(stdout); m != nil {
			cursor, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if strings.Contains(stdout, "More jobs follow") {
			t.Errorf("a short page says more jobs follow:\n%s", stdout)
		}
		return listedIDs(t, stdout), cursor
	}

	out := list()
	ids, cursor := page(out)
	if fmt.Sprint(ids) != fmt.Sprint([]int64{late}) || cursor == 0 {
		t.Fatalf("first page: IDs %v, cursor %d, want [%d] and a cursor\n%s", ids, cursor, late, out)
	}
	out = list("--cursor", fmt.Sprint(cursor))
	ids, next := page(out)
	if ids != nil || next == 0 || next >= cursor || !strings.HasPrefix(out, "No jobs among the 100,000 job IDs searched.\n") {
		t.Fatalf("second page (--cursor %d): IDs %v, cursor %d, want none and a lower cursor\n%s", cursor, ids, next, out)
	}
	out = list("--cursor", fmt.Sprint(next))
	if ids, last := page(out); fmt.Sprint(ids) != fmt.Sprint([]int64{early}) || last != 0 {
		t.Fatalf("third page (--cursor %d): IDs %v, cursor %d, want [%d] and no cursor\n%s", next, ids, last, early, out)
	}

	// --json gives the same cursor.
	var res struct {
		Jobs       []*kiln.JobRow `json:"jobs"`
		NextCursor int64          `json:"next_cursor"`
	}
	if err := json.Unmarshal([]byte(list("--json")), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != 1 || res.Jobs[0].ID != late || res.NextCursor != cursor {
		t.Errorf("--json: %d jobs, next_cursor %d, want job %d and %d", len(res.Jobs), res.NextCursor, late, cursor)
	}
}
