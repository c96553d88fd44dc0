package httpapi

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

func TestRecurring(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	var v recurringView
	e.call("PUT", "/recurring/report", `{"schedule":"30 9 * * MON-FRI","time_zone":"Europe/Berlin","kind":"echo",
		"args":{"n":5},"queue":"reports","priority":2,"max_attempts":4,"tags":["nightly"],"metadata":{"team":"ops"},
		"overlap":"allow","misfire":"skip","misfire_max":3,"partition":"acme"}`, http.StatusOK, &v)
	if v.ID != "report" || v.Partition != "acme" || v.Schedule != "30 9 * * MON-FRI" || v.TimeZone != "Europe/Berlin" || v.Kind != "echo" ||
		string(v.Args) != `{"n":5}` || v.Queue != "reports" || v.Priority != 2 || v.MaxAttempts != 4 ||
		v.Overlap != kilntype.OverlapAllow || v.Misfire != kilntype.MisfireSkip || v.MisfireMax != 3 || v.Paused {
		t.Fatalf("PUT returned %+v", v.RecurringRow)
	}
	if v.Description == "" {
		t.Fatal("no description")
	}
	// 2030-01-02 is a Wednesday; 09:30 in Berlin (UTC+1 in January) is 08:30 UTC.
	if want := time.Date(2030, 1, 2, 8, 30, 0, 0, time.UTC); !v.NextRunAt.Equal(want) {
		t.Fatalf("next run %s, want %s", v.NextRunAt, want)
	}

	var next nextRuns
	e.call("GET", "/recurring/report/next?n=3", "", http.StatusOK, &next)
	want := []time.Time{
		time.Date(2030, 1, 2, 8, 30, 0, 0, time.UTC), time.Date(2030, 1, 3, 8, 30, 0, 0, time.UTC), time.Date(2030, 1, 4, 8, 30, 0, 0, time.UTC),
	}
	if len(next.NextRuns) != 3 || !next.NextRuns[0].Equal(want[0]) || !next.NextRuns[1].Equal(want[1]) || !next.NextRuns[2].Equal(want[2]) {
		t.Fatalf("next runs %v, want %v", next.NextRuns, want)
	}

	// An update keeps the entry and changes its template.
	v = recurringView{}
	e.call("PUT", "/recurring/report", `{"schedule":"@hourly","kind":"echo","args":{"n":6}}`, http.StatusOK, &v)
	if v.Schedule != "@hourly" || string(v.Args) != `{"n":6}` || v.Overlap != kilntype.OverlapSkip || v.Partition != "" {
		t.Fatalf("updated entry %+v", v.RecurringRow)
	}
	e.call("PUT", "/recurring/second", `{"schedule":"@every 90s","kind":"block"}`, http.StatusOK, nil)

	var page struct {
		Recurring  []recurringView
		NextCursor string `json:"next_cursor"`
	}
	e.call("GET", "/recurring", "", http.StatusOK, &page)
	if len(page.Recurring) != 2 || page.Recurring[0].ID != "report" || page.Recurring[1].ID != "second" || page.NextCursor != "" {
		t.Fatalf("list %+v", page)
	}
	e.call("GET", "/recurring?limit=1", "", http.StatusOK, &page)
	if len(page.Recurring) != 1 || page.NextCursor != "report" {
		t.Fatalf("first page %+v", page)
	}
	e.call("GET", "/recurring?limit=1&cursor=report", "", http.StatusOK, &page)
	if len(page.Recurring) != 1 || page.Recurring[0].ID != "second" {
		t.Fatalf("second page %+v", page)
	}

	e.call("POST", "/recurring/report/pause", "", http.StatusOK, &v)
	if !v.Paused {
		t.Fatal("pause: entry not paused")
	}
	e.call("GET", "/recurring/report", "", http.StatusOK, &v)
	if !v.Paused {
		t.Fatal("GET after pause: entry not paused")
	}
	// A paused entry's next runs start after now, where a resume would.
	before := time.Now()
	e.call("GET", "/recurring/report/next?n=2", "", http.StatusOK, &next)
	if len(next.NextRuns) != 2 || !next.NextRuns[0].After(before) || next.NextRuns[0].Sub(before) > time.Hour {
		t.Fatalf("paused entry's next runs %v (now %s)", next.NextRuns, before)
	}

	// A trigger enqueues now, even while paused, and is an occurrence.
	var job kilntype.JobRow
	e.call("POST", "/recurring/report/trigger", "", http.StatusCreated, &job)
	if job.Kind != "echo" || string(job.Args) != `{"n":6}` || job.State != kilntype.JobStateAvailable {
		t.Fatalf("triggered job %+v", job)
	}
	var occ struct{ Occurrences []occurrenceView }
	e.call("GET", "/recurring/report/occurrences?limit=5", "", http.StatusOK, &occ)
	if len(occ.Occurrences) != 1 || occ.Occurrences[0].JobID != job.ID || occ.Occurrences[0].JobState != kilntype.JobStateAvailable {
		t.Fatalf("occurrences %+v", occ.Occurrences)
	}
	e.call("POST", "/recurring/report/resume", "", http.StatusOK, &v)
	if v.Paused {
		t.Fatal("resume: entry still paused")
	}

	e.call("DELETE", "/recurring/report", "", http.StatusOK, &v)
	if v.ID != "report" {
		t.Fatalf("DELETE returned %+v", v.RecurringRow)
	}
	for _, req := range []struct{ method, path string }{
		{"GET", "/recurring/report"}, {"DELETE", "/recurring/report"}, {"POST", "/recurring/report/trigger"},
		{"POST", "/recurring/report/pause"}, {"POST", "/recurring/report/resume"}, {"GET", "/recurring/report/next"},
		{"GET", "/recurring/report/occurrences"},
	} {
		e.fail(req.method, req.path, "", http.StatusNotFound, "", "not found")
	}
	if _, err := e.client.JobGet(t.Context(), job.ID); err != nil {
		t.Fatalf("the triggered job went with its entry: %v", err)
	}
}

func TestRecurringErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	for _, tc := range []struct {
		body, field, msg string
	}{
		{`{"schedule":"61 * * * *","kind":"echo"}`, "schedule", "minute"},
		{`{"schedule":"0 0 30 2 *","kind":"echo"}`, "schedule", "never"},
		{`{"kind":"echo"}`, "schedule", "empty spec"},
		{`{"schedule":"@daily","time_zone":"Mars/Olympus","kind":"echo"}`, "time_zone", "Mars/Olympus"},
		{`{"schedule":"@daily","kind":"nope"}`, "kind", `"nope"`},
		{`{"schedule":"@daily"}`, "kind", "missing"},
		{`{"schedule":"@daily","kind":"echo","args":{"n":[1]}}`, "args.n", "do not decode"},
		{`{"schedule":"@daily","kind":"echo","overlap":"sometimes"}`, "overlap", `"sometimes"`},
		{`{"schedule":"@daily","kind":"echo","misfire":"later"}`, "misfire", `"later"`},
		{`{"schedule":"@daily","kind":"echo","misfire_max":-1}`, "misfire_max", "-1 is out of range 1 to 10000"},
		{`{"schedule":"@daily","kind":"echo","run_in":5}`, "run_in", "unknown field"},
		{`{"schedule":"@daily","kind":"echo","priority":0.5}`, "priority", "want a whole number"},
	} {
		e.fail("PUT", "/recurring/r", tc.body, http.StatusBadRequest, tc.field, tc.msg)
	}
	long := make([]byte, 201)
	for i := range long {
		long[i] = 'x'
	}
	e.fail("PUT", "/recurring/"+string(long), `{"schedule":"@daily","kind":"echo"}`, http.StatusBadRequest, "id", "want 1 to 200")
	e.fail("GET", "/recurring?limit=5000", "", http.StatusBadRequest, "limit", "from 1 to 1000")
	e.fail("GET", "/recurring/r/next?n=101", "", http.StatusBadRequest, "n", "from 1 to 100")
	var page struct{ Recurring []recurringView }
	e.call("GET", "/recurring", "", http.StatusOK, &page)
	if len(page.Recurring) != 0 {
		t.Fatalf("failed PUTs stored %d entries", len(page.Recurring))
	}
}

func TestScheduleNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	var next nextRuns
	e.call("GET", "/schedules/next?schedule="+url.QueryEscape("0 0 1 1 *")+"&time_zone=Asia/Tokyo&n=2", "", http.StatusOK, &next)
	want, err := kiln.RecurringNext("0 0 1 1 *", "Asia/Tokyo", time.Now(), 2)
	if err != nil {
		t.Fatal(err)
	}
	// New Year in Tokyo is 15:00 UTC on 31 December.
	if len(next.NextRuns) != 2 || !next.NextRuns[0].Equal(want[0]) || !next.NextRuns[1].Equal(want[1]) || next.NextRuns[0].Hour() != 15 {
		t.Fatalf("next runs %v, want %v", next.NextRuns, want)
	}
	if next.Schedule != "0 0 1 1 *" || next.TimeZone != "Asia/Tokyo" || next.Description == "" {
		t.Fatalf("answer %+v", next)
	}
	e.call("GET", "/schedules/next?schedule=@daily", "", http.StatusOK, &next)
	if len(next.NextRuns) != 5 {
		t.Fatalf("default count: %d runs", len(next.NextRuns))
	}
	e.fail("GET", "/schedules/next?schedule="+url.QueryEscape("* * *"), "", http.StatusBadRequest, "schedule", `"* * *"`)
	e.fail("GET", "/schedules/next?schedule=@daily&time_zone=Nowhere", "", http.StatusBadRequest, "time_zone", "Nowhere")
	e.fail("GET", "/schedules/next", "", http.StatusBadRequest, "schedule", "empty spec")
}
