package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestPagesRender loads every page and checks it shows the store's data.
func TestPagesRender(t *testing.T) {
	e := newEnv(t, nil)
	done := e.enqueue(t, okArgs{Text: "hello"}, &kiln.EnqueueOpts{Tags: []string{"greeting"}})
	e.waitState(t, done, kiln.JobStateCompleted)
	if _, err := e.client.RecurringAddOrUpdate(context.Background(), kiln.RecurringJob{ID: "nightly", Schedule: "0 3 * * *", TimeZone: "Europe/Berlin", Args: okArgs{}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"Overview", "completed", "Throughput", "default"}},
		{"/jobs", []string{"test.ok", "hello", fmt.Sprintf(`href="/jobs/%d"`, done)}},
		{"/jobs?state=completed", []string{"test.ok"}},
		{fmt.Sprintf("/jobs/%d", done), []string{"Job " + fmt.Sprint(done), "&#34;text&#34;: &#34;hello&#34;", "greeting", "succeeded", "Timeline"}},
		{"/recurring", []string{"nightly", "0 3 * * *", "Europe/Berlin", "Trigger now"}},
		{"/recurring/new", []string{`name="schedule"`, "test.fail_once", "test.ok"}},
		{"/recurring/nightly/edit", []string{`value="nightly"`, "readonly"}},
		{"/jobs/new", []string{`name="run_in"`, "test.ok"}},
		{"/queues", []string{"default", "Pause"}},
		{"/servers", []string{"Servers"}},
		{"/services", []string{"Hosted services"}},
		{"/limits", []string{"Rate limits", `action="/limits/rate"`, `<option value="test.ok">`}},
	} {
		status, body := e.get(t, tc.path)
		if status != http.StatusOK {
			t.Errorf("GET %s: status %d; body:\n%s", tc.path, status, body)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: body lacks %q", tc.path, w)
			}
		}
	}
}

// TestPartialRendersLiveBlockOnly checks that htmx polls get the live block
// without the layout.
func TestPartialRendersLiveBlockOnly(t *testing.T) {
	e := newEnv(t, nil)
	status, body := e.get(t, "/?partial=live")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if strings.Contains(body, "<html") || !strings.Contains(body, `id="live"`) || !strings.Contains(body, "Throughput") {
		t.Fatalf("partial is not the live block alone:\n%s", body)
	}
	_, body = e.get(t, "/?partial=history")
	if strings.Contains(body, "<html") || strings.Contains(body, `id="live"`) || !strings.Contains(body, `id="history"`) {
		t.Fatalf("partial is not the history block alone:\n%s", body)
	}
}

// TestOptionsKinds checks that Options.Kinds replaces the kinds the forms
// offer and validate.
func TestOptionsKinds(t *testing.T) {
	e := newEnv(t, &dashboard.Options{Kinds: []string{"test.ok"}})
	_, body := e.get(t, "/jobs/new")
	if !strings.Contains(body, `<option value="test.ok"`) || strings.Contains(body, "test.fail_once") {
		t.Errorf("the form does not offer exactly Options.Kinds:\n%s", body)
	}
	resp := e.post(t, "/jobs/new", map[string][]string{"kind": {"test.fail_once"}})
	if errs := fieldErrors(readAll(t, resp)); !strings.Contains(errs["kind"], "No worker") {
		t.Errorf("a kind outside Options.Kinds: errors %q", errs)
	}
}

// TestNotFound checks unknown pages, jobs and entries.
func TestNotFound(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/nope", "/jobs/999999", "/jobs/abc", "/recurring/nope/edit"} {
		if status, _ := e.get(t, p); status != http.StatusNotFound {
			t.Errorf("GET %s: status %d; want 404", p, status)
		}
	}
}

// TestPrefix serves the dashboard under a prefix: links carry it, and the
// bare prefix redirects to its slash.
func TestPrefix(t *testing.T) {
	e := newEnv(t, &dashboard.Options{Prefix: "/kiln"})
	status, body := e.get(t, "/")
	if status != http.StatusOK {
		t.Fatalf("GET /kiln/: %d", status)
	}
	for _, w := range []string{`href="/kiln/jobs"`, `href="/kiln/static/kiln.css"`, `src="/kiln/static/vendor/htmx/htmx.min.js"`} {
		if !strings.Contains(body, w) {
			t.Errorf("body lacks %q", w)
		}
	}
	if status, _ := e.get(t, "/static/vendor/htmx/htmx.min.js"); status != http.StatusOK {
		t.Errorf("htmx: status %d", status)
	}
	resp, err := noRedirects.Get(e.srv.URL + "/kiln")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/kiln/" {
		t.Errorf("GET /kiln: %d to %q; want 301 to /kiln/", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, bad := range []string{"kiln", "/kiln/"} {
		if _, err := dashboard.New(e.client, &dashboard.Options{Prefix: bad}); err == nil {
			t.Errorf("Prefix %q accepted", bad)
		}
	}
}

// TestJobActions retries a discarded job, deletes it, and checks the
// flash and the conflict of deleting a running job.
func TestJobActions(t *testing.T) {
	e := newEnv(t, nil)
	id := e.enqueue(t, failOnceArgs{}, &kiln.EnqueueOpts{MaxAttempts: 1})
	e.waitState(t, id, kiln.JobStateDiscarded)
	_, body := e.get(t, fmt.Sprintf("/jobs/%d", id))
	if !strings.Contains(body, "boom") || !strings.Contains(body, `/retry"`) {
		t.Fatalf("discarded job page lacks its error or the retry button:\n%s", body)
	}

	resp := e.post(t, fmt.Sprintf("/jobs/%d/retry", id), nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != fmt.Sprintf("/jobs/%d", id) {
		t.Fatalf("retry: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	e.waitState(t, id, kiln.JobStateCompleted)
	// The flash cookie is shown once on the next page.
	req, _ := http.NewRequest(http.MethodGet, e.base+resp.Header.Get("Location"), nil)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	page, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer page.Body.Close()
	if body := readAll(t, page); !strings.Contains(body, fmt.Sprintf("Job %d will run again now.", id)) {
		t.Errorf("flash missing after retry")
	}

	resp = e.post(t, fmt.Sprintf("/jobs/%d/delete", id), map[string][]string{"back": {"/jobs"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/jobs" {
		t.Fatalf("delete: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := e.client.JobGet(context.Background(), id); err == nil {
		t.Fatal("job still exists after delete")
	}
	// Redirects never leave the dashboard.
	resp = e.post(t, "/jobs/12345/cancel", map[string][]string{"back": {"//evil.example/x"}})
	if loc := resp.Header.Get("Location"); loc != "/jobs/12345" {
		t.Errorf("back //evil.example/x redirected to %q", loc)
	}
}

// TestBulkActions cancels several scheduled jobs at once.
func TestBulkActions(t *testing.T) {
	e := newEnv(t, nil)
	var ids []string
	for range 3 {
		id := e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{RunAt: farFuture})
		ids = append(ids, fmt.Sprint(id))
	}
	resp := e.post(t, "/jobs/bulk", map[string][]string{"action": {"cancel"}, "id": ids, "back": {"/jobs?state=scheduled"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/jobs?state=scheduled" {
		t.Fatalf("bulk: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, s := range ids {
		var id int64
		fmt.Sscan(s, &id)
		e.waitState(t, id, kiln.JobStateCancelled)
	}
	resp = e.post(t, "/jobs/bulk", map[string][]string{"action": {"explode"}, "id": ids})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("unknown bulk action: %d", resp.StatusCode)
	}
}

// TestQueuePauseResume pauses and resumes a queue from the Queues page.
func TestQueuePauseResume(t *testing.T) {
	e := newEnv(t, nil)
	e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{Queue: "other", RunAt: farFuture})
	if resp := e.post(t, "/queues/other/pause", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("pause: %d", resp.StatusCode)
	}
	queueState := func() bool {
		qs, err := e.client.QueueList(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Name == "other" {
				return q.Paused
			}
		}
		t.Fatal("queue other not listed")
		return false
	}
	if !queueState() {
		t.Fatal("queue not paused")
	}
	if _, body := e.get(t, "/queues"); !strings.Contains(body, "/queues/other/resume") {
		t.Error("Queues page offers no resume for the paused queue")
	}
	e.post(t, "/queues/other/resume", nil)
	if queueState() {
		t.Fatal("queue still paused")
	}
}

// TestJobProgressAndLogs checks that a running job's progress and log
// lines show on its page (escaped), and that the page stops polling once
// the job is finalized.
func TestJobProgressAndLogs(t *testing.T) {
	e := newEnv(t, nil)
	id := e.enqueue(t, reportArgs{}, nil)
	path := fmt.Sprintf("/jobs/%d", id)
	var body string
	testutil.Poll{Interval: 20 * time.Millisecond}.EventuallyNil(t, "progress and logs on the job page", func() error {
		if _, body = e.get(t, path+"?partial=live"); !strings.Contains(body, `value="40"`) || !strings.Contains(body, "step 2 started") {
			return fmt.Errorf("page:\n%s", body)
		}
		return nil
	})
	if !strings.Contains(body, "step 1 &lt;b&gt;done&lt;/b&gt;") {
		t.Errorf("log line not escaped:\n%s", body)
	}
	if !strings.Contains(body, "hx-trigger") {
		t.Error("the page of a running job does not poll")
	}
	e.releaseJobs()
	e.waitState(t, id, kiln.JobStateCompleted)
	if _, body := e.get(t, path+"?partial=live"); strings.Contains(body, "hx-trigger") || !strings.Contains(body, "step 2 started") {
		t.Errorf("completed job page polls or lost its log:\n%s", body)
	}
}

// TestLiveThroughput checks that the overview's live graph shows the jobs
// that complete between two of its polls.
func TestLiveThroughput(t *testing.T) {
	e := newEnv(t, nil)
	e.get(t, "/?partial=live") // the first sample starts the series
	var last int64
	for range 20 {
		last = e.enqueue(t, okArgs{}, nil)
	}
	e.waitState(t, last, kiln.JobStateCompleted)
	peak := regexp.MustCompile(`succeeded</span> \(peak ([0-9.]+) jobs/s\)`)
	// A sample is kept at most once a second: poll every 100 ms.
	testutil.Poll{Interval: 100 * time.Millisecond}.EventuallyNil(t, "succeeded jobs in the live graph", func() error {
		if _, body := e.get(t, "/?partial=live"); peak.FindStringSubmatch(body) == nil || peak.FindStringSubmatch(body)[1] == "0" {
			return fmt.Errorf("page:\n%s", body)
		}
		return nil
	})
}

// TestRunningJobPage checks that a running job's page shows its attempt
// under way (the store records an attempt only when it ends): in the
// attempts table with its server, elapsed time and progress, and in the
// timeline, never "Not run yet".
func TestRunningJobPage(t *testing.T) {
	e := newEnv(t, nil)
	id := e.enqueue(t, reportArgs{}, nil)
	path := fmt.Sprintf("/jobs/%d?partial=live", id)
	var body string
	testutil.Poll{Interval: 20 * time.Millisecond}.EventuallyNil(t, "progress on the running job's page", func() error {
		if _, body = e.get(t, path); !strings.Contains(body, `value="40"`) {
			return fmt.Errorf("page:\n%s", body)
		}
		return nil
	})
	job, err := e.client.JobGet(context.Background(), id)
	if err != nil || job.State != kiln.JobStateRunning || job.LeasedBy == "" {
		t.Fatalf("job %+v, %v: want it running with a lease", job, err)
	}
	if strings.Contains(body, "Not run yet") {
		t.Errorf("a running job's page says it has not run yet")
	}
	row := regexp.MustCompile(`(?s)<tr id="attempt-row-1">(.*?)</tr>`).FindStringSubmatch(body)
	if row == nil {
		t.Fatalf("no row for attempt 1 in the attempts table:\n%s", body)
	}
	for _, want := range []string{`state-running`, job.LeasedBy, "so far", `value="40"`} {
		if !strings.Contains(row[1], want) {
			t.Errorf("attempt 1's row lacks %q:\n%s", want, row[1])
		}
	}
	tl := regexp.MustCompile(`(?s)<ol class="timeline">(.*?)</ol>`).FindStringSubmatch(body)
	if tl == nil {
		t.Fatalf("no timeline:\n%s", body)
	}
	for _, want := range []string{"attempt 1 started on " + job.LeasedBy, "attempt 1 running for", "40%"} {
		if !strings.Contains(tl[1], want) {
			t.Errorf("the timeline lacks %q:\n%s", want, tl[1])
		}
	}
}

// TestOverviewCountsInWords checks that the overview writes counts of one
// in the singular: "1 live server", not "1 live servers".
func TestOverviewCountsInWords(t *testing.T) {
	e := newEnv(t, nil)
	testutil.Eventually(t, "one registered server", func() bool {
		servers, err := e.client.ServerList(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return len(servers) == 1
	})
	_, body := e.get(t, "/?partial=live")
	if !strings.Contains(body, "1 live server,") || strings.Contains(body, "1 live servers") {
		t.Errorf("one live server is not counted in the singular:\n%s", body)
	}
	if !strings.Contains(body, "0 of 12 workers busy") {
		t.Errorf("the workers are not counted:\n%s", body)
	}
}

// TestJobErrorShownOnce checks that a failed attempt's error appears once
// on its job's page (in the attempts table, which the timeline links to),
// and that a job that completed after a failed attempt does not show that
// error as the job's: on its page it is attempt 1's, in the list it says
// it was an earlier attempt's.
func TestJobErrorShownOnce(t *testing.T) {
	e := newEnv(t, nil)
	discarded := e.enqueue(t, failOnceArgs{}, &kiln.EnqueueOpts{MaxAttempts: 1})
	completed := e.enqueue(t, failOnceArgs{}, nil)
	e.waitState(t, discarded, kiln.JobStateDiscarded)
	e.waitState(t, completed, kiln.JobStateRetryable)
	if _, err := e.client.JobRetry(context.Background(), completed); err != nil {
		t.Fatal(err)
	}
	e.waitState(t, completed, kiln.JobStateCompleted)

	attemptRow := regexp.MustCompile(`(?s)<tr id="attempt-row-1">(.*?)</tr>`)
	for _, id := range []int64{discarded, completed} {
		_, body := e.get(t, fmt.Sprintf("/jobs/%d", id))
		if n := strings.Count(body, "boom"); n != 1 {
			t.Errorf("job %d: the error is shown %d times; want once:\n%s", id, n, body)
		}
		if row := attemptRow.FindStringSubmatch(body); row == nil || !strings.Contains(row[1], "boom") || !strings.Contains(row[1], "state-failed") {
			t.Errorf("job %d: attempt 1's row does not show the failure and its error:\n%s", id, body)
		}
		if !strings.Contains(body, `href="#attempt-row-1"`) {
			t.Errorf("job %d: the timeline does not link the failure to its attempt", id)
		}
		if strings.Contains(body, "Last error") {
			t.Errorf("job %d: the page shows a \"Last error\" apart from the attempts", id)
		}
	}
	_, body := e.get(t, "/jobs?state=completed")
	if !strings.Contains(body, "an earlier attempt failed: boom") || strings.Contains(body, `<div class="error-line">boom`) {
		t.Errorf("the completed job's list row shows its earlier attempt's error as the job's:\n%s", body)
	}
}

// TestServicesSilentProcessesApart checks that the Services page lists the
// reports of processes that stopped reporting apart from the live ones,
// folded away, instead of among them.
func TestServicesSilentProcessesApart(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	old := now.Add(-2 * time.Hour)
	for _, row := range []*kilntype.ServiceRow{
		{Name: "mailer", ProcessID: "proc-gone", State: "running", StartedAt: &old, UpdatedAt: old},
		{Name: "mailer", ProcessID: "proc-live", State: "running", StartedAt: &now, UpdatedAt: now},
	} {
		if err := e.store.ServiceReport(ctx, &store.ServiceReportParams{Row: row}); err != nil {
			t.Fatal(err)
		}
	}
	_, body := e.get(t, "/services?partial=live")
	live := regexp.MustCompile(`(?s)<table id="services-live">(.*?)</table>`).FindStringSubmatch(body)
	gone := regexp.MustCompile(`(?s)<details id="services-gone"[^>]*>(.*?)</details>`).FindStringSubmatch(body)
	if live == nil || gone == nil {
		t.Fatalf("the page does not list live and silent processes apart:\n%s", body)
	}
	if !strings.Contains(live[1], "proc-live") || strings.Contains(live[1], "proc-gone") {
		t.Errorf("the live table holds the wrong processes:\n%s", live[1])
	}
	if !strings.Contains(gone[1], "proc-gone") || strings.Contains(gone[1], "proc-live") {
		t.Errorf("the silent processes' section holds the wrong processes:\n%s", gone[1])
	}
	if !strings.Contains(gone[1], "1 report") {
		t.Errorf("the silent processes' section does not count its reports:\n%s", gone[1])
	}
}

// TestJobListFinishedAndTook checks that the Jobs page shows when each
// finished job finished and how long its last attempt took (a running
// job: how long it has run so far), as Hangfire's Succeeded list does.
func TestJobListFinishedAndTook(t *testing.T) {
	e := newEnv(t, nil)
	done := e.waitState(t, e.enqueue(t, okArgs{Text: "quick"}, nil), kiln.JobStateCompleted)
	running := e.enqueue(t, reportArgs{}, nil)
	e.waitState(t, running, kiln.JobStateRunning)
	jobRow := func(body string, id int64) string {
		m := regexp.MustCompile(fmt.Sprintf(`(?s)<tr>\s*(?:<td><input[^>]*></td>\s*)?<td class="num"><a href="/jobs/%d">.*?</tr>`, id)).FindString(body)
		if m == "" {
			t.Fatalf("no row for job %d:\n%s", id, body)
		}
		return m
	}
	for _, path := range []string{"/jobs", "/jobs?state=completed"} {
		_, body := e.get(t, path)
		for _, th := range []string{"<th>Finished</th>", "<th>Took</th>"} {
			if !strings.Contains(body, th) {
				t.Errorf("%s: no column %s", path, th)
			}
		}
		row := jobRow(body, done.ID)
		took := regexp.MustCompile(`<td class="took">([^<]*)</td>`).FindStringSubmatch(row)
		if !strings.Contains(row, fmt.Sprintf(`title="%s"`, done.FinalizedAt.Format("2006-01-02 15:04:05 UTC"))) || took == nil || took[1] == "-" || took[1] == "" {
			t.Errorf("%s: the completed job's row lacks its finish time or duration:\n%s", path, row)
		}
	}
	_, body := e.get(t, "/jobs?state=running")
	if row := jobRow(body, running); !strings.Contains(row, "so far") {
		t.Errorf("the running job's row does not say how long it has run:\n%s", row)
	}
}
