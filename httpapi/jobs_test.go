package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func TestEnqueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	job := e.enqueue(`{"kind":"echo","args":{"n":7},"queue":"mail","priority":2,"max_attempts":3,
		"run_in":"10m","tags":["a","b"],"metadata":{"k":"v"}}`)
	if job.Kind != "echo" || string(job.Args) != `{"n":7}` || job.Queue != "mail" || job.Priority != 2 ||
		job.MaxAttempts != 3 || !slices.Equal(job.Tags, []string{"a", "b"}) || string(job.Metadata) != `{"k":"v"}` {
		t.Fatalf("enqueued %+v", job)
	}
	if job.State != kilntype.JobStateScheduled || !job.ScheduledAt.Equal(testBase.Add(10*time.Minute)) {
		t.Fatalf("run_in 10m: state %s at %s, want scheduled at %s", job.State, job.ScheduledAt, testBase.Add(10*time.Minute))
	}
	if got := e.job(job.ID); got.ID != job.ID || got.Queue != "mail" {
		t.Fatalf("GET /jobs/%d = %+v", job.ID, got)
	}

	// run_in as seconds, run_at as RFC 3339 in another offset: stored in UTC.
	if j := e.enqueue(`{"kind":"echo","run_in":90}`); !j.ScheduledAt.Equal(testBase.Add(90 * time.Second)) {
		t.Fatalf("run_in 90: scheduled at %s", j.ScheduledAt)
	}
	j := e.enqueue(`{"kind":"echo","run_at":"2030-01-02T09:00:00+02:00"}`)
	if want := time.Date(2030, 1, 2, 7, 0, 0, 0, time.UTC); !j.ScheduledAt.Equal(want) || j.ScheduledAt.Location() != time.UTC {
		t.Fatalf("run_at: scheduled at %s, want %s", j.ScheduledAt, want)
	}
	if j := e.enqueue(`{"kind":"echo"}`); string(j.Args) != "{}" || j.State != kilntype.JobStateAvailable || j.Queue != "default" {
		t.Fatalf("defaults: %+v", j)
	}

	// A unique enqueue of the same args returns the first job with 200.
	first := e.enqueue(`{"kind":"echo","args":{"n":1},"unique":{"by_queue":true,"by_period":"1h"}}`)
	var again enqueueResult
	e.call("POST", "/jobs", `{"kind":"echo","args":{"n":1},"unique":{"by_queue":true,"by_period":3600}}`, http.StatusOK, &again)
	if !again.UniqueSkipped || again.Job.ID != first.ID {
		t.Fatalf("unique duplicate: %+v, want job %d skipped", again, first.ID)
	}

	// A continuation waits for its parent.
	child := e.enqueue(fmt.Sprintf(`{"kind":"echo","parents":[%d],"parent_failure":"run"}`, first.ID))
	if child.State != kilntype.JobStatePending {
		t.Fatalf("continuation is %s, want pending", child.State)
	}
}

func TestEnqueueRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, true)
	job := e.enqueue(`{"kind":"echo","args":{"n":1}}`)
	e.waitState(job.ID, kilntype.JobStateCompleted)
	var res struct{ Attempts []*kilntype.JobAttempt }
	e.call("GET", fmt.Sprintf("/jobs/%d/attempts", job.ID), "", http.StatusOK, &res)
	if len(res.Attempts) != 1 || res.Attempts[0].Outcome != kilntype.AttemptSucceeded || res.Attempts[0].JobID != job.ID {
		t.Fatalf("attempts %+v", res.Attempts)
	}
}

func TestEnqueueErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{MaxBodyBytes: 512}, false)
	parent := e.enqueue(`{"kind":"echo"}`)
	for _, tc := range []struct {
		body, field, msg string
	}{
		{`{"kind":"nope"}`, "kind", `"nope"`},
		{`{}`, "kind", "missing"},
		{`{"kind":"echo","args":{"n":"seven"}}`, "args.n", "do not decode"},
		{`{"kind":"echo","args":{"m":7}}`, "args.m", `unknown field "m"`},
		{`{"kind":"echo","args":{"n":1}`, "", "ends in the middle"},
		{`{"kind":"echo",,}`, "", "invalid JSON at byte 16"},
		{`{"kind":"echo"} {}`, "", "after the value at byte"},
		{`{"kind":7}`, "kind", "got a JSON number at byte 9, want a string"},
		{`[1]`, "", "want a JSON object"},
		{`{"kind":"echo","prio":1}`, "prio", `unknown field "prio"`},
		{`{"kind":"echo","priority":9}`, "priority", "9 is out of range 1 to 4"},
		{`{"kind":"echo","max_attempts":-1}`, "max_attempts", "-1 is out of range 1 to 2147483647"},
		{`{"kind":"echo","queue":"has space"}`, "queue", "without spaces"},
		{`{"kind":"echo","run_in":"soon"}`, "run_in", `invalid duration "soon"`},
		{`{"kind":"echo","run_in":-5}`, "run_in", "negative"},
		{`{"kind":"echo","run_at":"tomorrow"}`, "run_at", "RFC 3339"},
		{`{"kind":"echo","run_at":"2030-01-02T09:00:00Z","run_in":5}`, "run_in", "not both"},
		{`{"kind":"echo","unique":{"by_period":true}}`, "unique.by_period", "want seconds"},
		{`{"kind":"echo","parents":[999999]}`, "parents", "not found"},
		{fmt.Sprintf(`{"kind":"echo","parents":[%d],"run_in":5}`, parent.ID), "parents", "not allowed with Parents"},
		{`{"kind":"echo","parents":[1],"parent_failure":"maybe"}`, "parent_failure", `unknown parent failure policy "maybe"`},
		{`{"kind":"echo","tags":[""]}`, "tags[0]", "want 1 to 128 bytes"},
		{`{"kind":"echo","metadata":{"k":1}}`, "metadata", "want a string"},
	} {
		e.fail("POST", "/jobs", tc.body, http.StatusBadRequest, tc.field, tc.msg)
	}
	e.fail("POST", "/jobs", "", http.StatusBadRequest, "", "empty request body")
	e.fail("POST", "/jobs", `{"kind":"echo","args":{"pad":"`+strings.Repeat("x", 600)+`"}}`, http.StatusRequestEntityTooLarge, "", "larger than 512 bytes")
	rec := e.doType("POST", "/jobs", `kind=echo`, "application/x-www-form-urlencoded")
	if rec.Code != http.StatusUnsupportedMediaType || !strings.Contains(rec.Body.String(), "want application/json") {
		t.Fatalf("form body: %d %s", rec.Code, rec.Body)
	}
	if n := e.jobCount(); n != 1 {
		t.Fatalf("failed enqueues stored jobs: %d jobs, want only the parent", n)
	}
}

func TestEnqueueBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	var res struct{ Results []enqueueResult }
	e.call("POST", "/jobs/batch", `{"jobs":[{"kind":"echo","args":{"n":1}},{"kind":"echo","args":{"n":2},"queue":"q2"},{"kind":"block","run_in":"1h"}]}`,
		http.StatusCreated, &res)
	if len(res.Results) != 3 || string(res.Results[1].Job.Args) != `{"n":2}` || res.Results[1].Job.Queue != "q2" ||
		res.Results[2].Job.Kind != "block" || res.Results[2].Job.State != kilntype.JobStateScheduled {
		t.Fatalf("batch results %+v", res.Results)
	}
	if res.Results[0].Job.ID >= res.Results[1].Job.ID {
		t.Fatalf("results out of order: %d, %d", res.Results[0].Job.ID, res.Results[1].Job.ID)
	}

	// One bad job fails the batch, naming it, and stores nothing.
	e.fail("POST", "/jobs/batch", `{"jobs":[{"kind":"echo"},{"kind":"nope"}]}`, http.StatusBadRequest, "jobs[1].kind", `"nope"`)
	e.fail("POST", "/jobs/batch", `{"jobs":[{"kind":"echo"},{"kind":"echo","run_in":"x"}]}`, http.StatusBadRequest, "jobs[1].run_in", "invalid duration")
	e.fail("POST", "/jobs/batch", `{"jobs":[{"kind":"echo"},null]}`, http.StatusBadRequest, "jobs[1]", "null")
	e.fail("POST", "/jobs/batch", `{"jobs":[{"kind":"echo","priority":"high"}]}`, http.StatusBadRequest, "jobs.priority", "want a whole number")
	e.fail("POST", "/jobs/batch", `{"jobs":[]}`, http.StatusBadRequest, "jobs", "want 1 to 10000")
	huge := `{"jobs":[{"kind":"echo","args":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}]}`
	e.fail("POST", "/jobs/batch", huge, http.StatusRequestEntityTooLarge, "", "larger than 1048576 bytes")
	if n := e.jobCount(); n != 3 {
		t.Fatalf("%d jobs stored, want the first batch's 3", n)
	}
}

func TestJobList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	var ids []int64
	for _, body := range []string{
		`{"kind":"echo","queue":"a","tags":["x"]}`, `{"kind":"echo","queue":"b","args":{"n":4242}}`, `{"kind":"block","queue":"a","tags":["y","x"]}`,
		`{"kind":"echo","queue":"a","run_in":60}`, `{"kind":"block","queue":"b","run_in":60}`,
	} {
		ids = append(ids, e.enqueue(body).ID)
	}
	list := func(query string) []int64 {
		t.Helper()
		var page jobPage
		e.call("GET", "/jobs"+query, "", http.StatusOK, &page)
		var got []int64
		for _, j := range page.Jobs {
			got = append(got, j.ID)
		}
		return got
	}
	for query, want := range map[string][]int64{
		"":                                   {ids[4], ids[3], ids[2], ids[1], ids[0]},
		"?order=asc":                         {ids[0], ids[1], ids[2], ids[3], ids[4]},
		"?queue=a":                           {ids[3], ids[2], ids[0]},
		"?kind=block":                        {ids[4], ids[2]},
		"?state=scheduled":                   {ids[4], ids[3]},
		"?state=scheduled&state=available":   {ids[4], ids[3], ids[2], ids[1], ids[0]},
		"?queue=a&kind=echo&state=available": {ids[0]},
		"?queue=a&queue=b&kind=block":        {ids[4], ids[2]},
		"?state=completed":                   nil,
		"?tag=x":                             {ids[2], ids[0]},
		"?tag=x&kind=echo":                   {ids[0]},
		"?args_contains=4242":                {ids[1]},
		"?stop_at=" + itoa(ids[3]):           {ids[4], ids[3]},
	} {
		if got := list(query); !slices.Equal(got, want) {
			t.Errorf("GET /jobs%s = %v, want %v", query, got, want)
		}
	}

	// Keyset pages of 2 cover every job once, and the last has no cursor.
	var got []int64
	cursor := int64(0)
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		var page jobPage
		e.call("GET", fmt.Sprintf("/jobs?limit=2&cursor=%d", cursor), "", http.StatusOK, &page)
		for _, j := range page.Jobs {
			got = append(got, j.ID)
		}
		if page.NextCursor == 0 {
			break
		}
		cursor = page.NextCursor
	}
	if !slices.Equal(got, list("")) {
		t.Fatalf("pages gave %v", got)
	}

	e.fail("GET", "/jobs?state=sleeping", "", http.StatusBadRequest, "state", `unknown state "sleeping"`)
	e.fail("GET", "/jobs?limit=0", "", http.StatusBadRequest, "limit", "from 1 to 10000")
	e.fail("GET", "/jobs?cursor=x", "", http.StatusBadRequest, "cursor", "want an integer")
	e.fail("GET", "/jobs?order=up", "", http.StatusBadRequest, "order", "asc or desc")
	e.fail("GET", "/jobs?queues=a", "", http.StatusBadRequest, "queues", `unknown query parameter "queues"`)
}

func TestJobActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, true)

	// A scheduled job is cancelled at once, cancelling again changes
	// nothing, and a retry makes it available.
	later := e.enqueue(`{"kind":"echo","run_in":"1h"}`)
	var row kilntype.JobRow
	e.call("POST", fmt.Sprintf("/jobs/%d/cancel", later.ID), "", http.StatusOK, &row)
	if row.State != kilntype.JobStateCancelled {
		t.Fatalf("cancelled job is %s", row.State)
	}
	e.call("POST", fmt.Sprintf("/jobs/%d/cancel", later.ID), "", http.StatusOK, &row)
	e.call("POST", fmt.Sprintf("/jobs/%d/retry", later.ID), "", http.StatusOK, &row)
	if row.State != kilntype.JobStateAvailable {
		t.Fatalf("retried job is %s", row.State)
	}
	done := e.waitState(later.ID, kilntype.JobStateCompleted)

	// A completed job cannot be cancelled; it can be deleted.
	e.fail("POST", fmt.Sprintf("/jobs/%d/cancel", done.ID), "", http.StatusConflict, "", "state does not allow")
	e.call("DELETE", fmt.Sprintf("/jobs/%d", done.ID), "", http.StatusOK, &row)
	if row.ID != done.ID || row.State != kilntype.JobStateCompleted {
		t.Fatalf("DELETE returned %+v", row)
	}
	e.fail("GET", fmt.Sprintf("/jobs/%d", done.ID), "", http.StatusNotFound, "", "not found")

	// A running job can be neither deleted nor retried; a cancel reaches it.
	running := e.enqueue(`{"kind":"block"}`)
	e.waitState(running.ID, kilntype.JobStateRunning)
	e.fail("DELETE", fmt.Sprintf("/jobs/%d", running.ID), "", http.StatusConflict, "", "job is running")
	e.fail("POST", fmt.Sprintf("/jobs/%d/retry", running.ID), "", http.StatusConflict, "", "job is running")
	e.call("POST", fmt.Sprintf("/jobs/%d/cancel", running.ID), "", http.StatusOK, &row)
	e.waitState(running.ID, kilntype.JobStateCancelled)

	for _, req := range []struct{ method, path string }{
		{"GET", "/jobs/424242"}, {"DELETE", "/jobs/424242"}, {"POST", "/jobs/424242/cancel"},
		{"POST", "/jobs/424242/retry"}, {"GET", "/jobs/424242/attempts"},
	} {
		e.fail(req.method, req.path, "", http.StatusNotFound, "", "not found")
		e.fail(req.method, strings.Replace(req.path, "424242", "x1", 1), "", http.StatusBadRequest, "id", `job ID "x1"`)
	}
}

func TestJobLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, true)
	job := e.enqueue(`{"kind":"block","args":{"lines":5}}`)
	e.waitState(job.ID, kilntype.JobStateRunning)
	logs := func(query string) []*kilntype.JobLogLine {
		t.Helper()
		var res struct{ Lines []*kilntype.JobLogLine }
		e.call("GET", fmt.Sprintf("/jobs/%d/logs%s", job.ID, query), "", http.StatusOK, &res)
		return res.Lines
	}
	// Log writes are coalesced while the job runs: wait for all five.
	testutil.EventuallyNil(t, "five log lines", func() error {
		if n := len(logs("")); n < 5 {
			return fmt.Errorf("%d log lines", n)
		}
		return nil
	})
	messages := func(lines []*kilntype.JobLogLine) []string {
		var out []string
		for _, l := range lines {
			out = append(out, l.Message)
		}
		return out
	}
	all := logs("")
	if got := messages(all); !slices.Equal(got, []string{"line 1", "line 2", "line 3", "line 4", "line 5"}) || all[0].Attempt != 1 || all[0].JobID != job.ID {
		t.Fatalf("lines %v (%+v)", got, all[0])
	}
	if got := messages(logs(fmt.Sprintf("?after_seq=%d&limit=2", all[1].Seq))); !slices.Equal(got, []string{"line 3", "line 4"}) {
		t.Fatalf("after line 2, limit 2: %v", got)
	}
	if got := messages(logs("?limit=2&tail=true")); !slices.Equal(got, []string{"line 4", "line 5"}) {
		t.Fatalf("tail 2: %v", got)
	}
	e.fail("GET", fmt.Sprintf("/jobs/%d/logs?tail=yes", job.ID), "", http.StatusBadRequest, "tail", "true or false")
	e.fail("GET", "/jobs/424242/logs", "", http.StatusNotFound, "", "not found")
	e.call("POST", fmt.Sprintf("/jobs/%d/cancel", job.ID), "", http.StatusOK, nil)
}

// padArgs are the args of kind "pad": a number and a long text.
type padArgs struct {
	N   int    `json:"n"`
	Pad string `json:"pad"`
}

func (padArgs) Kind() string { return "pad" }

// TestJobListCutsLongArgs checks, over HTTP, that GET /jobs lists a job
// with long args by their first KiB, marked as cut with their size,
// so that the page stays small, and that GET /jobs/{id} has them whole.
func TestJobListCutsLongArgs(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[padArgs]) error { return nil }))
	clock := kilntest.NewClock(testBase)
	client := clienttest.New(t, workers, clock, false, false)
	e := &env{t: t, client: client, clock: clock,
		h: http.StripPrefix("/api", New(client, &Options{Logger: slog.New(slog.DiscardHandler)}))}
	pad := strings.Repeat("é", 400_000) // 800 kB of JSON text, under Config.MaxArgsBytes
	big := e.enqueue(`{"kind":"pad","args":{"n":1,"pad":"` + pad + `"}}`)
	small := e.enqueue(`{"kind":"pad","args":{"n":2}}`)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	get := func(path string) []byte {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/api" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return body
	}

	body := get("/jobs")
	if len(body) > 8<<10 {
		t.Errorf("GET /jobs answered %d bytes for two jobs: the long args were not cut", len(body))
	}
	var page struct {
		Jobs []map[string]json.RawMessage `json:"jobs"`
	}
	if err := json.Unmarshal(body, &page); err != nil || len(page.Jobs) != 2 {
		t.Fatalf("GET /jobs: %v, %d jobs:\n%.500s", err, len(page.Jobs), body)
	}
	fullLen := strconv.Itoa(big.ArgsBytes)
	cut, whole := page.Jobs[1], page.Jobs[0] // newest first
	var preview string
	if err := json.Unmarshal(cut["args_preview"], &preview); err != nil {
		t.Fatalf("args_preview: %v", err)
	}
	if string(cut["args"]) != "null" || string(cut["args_truncated"]) != "true" || string(cut["args_bytes"]) != fullLen ||
		len(preview) > kiln.JobListArgsPreview || len(preview) < kiln.JobListArgsPreview-3 ||
		!strings.HasPrefix(preview, `{"n":1,"pad":"éé`) {
		t.Errorf("cut job: args %.20s, args_truncated %s, args_bytes %s (want %s), args_preview of %d bytes %.20q",
			cut["args"], cut["args_truncated"], cut["args_bytes"], fullLen, len(preview), preview)
	}
	if string(whole["args"]) != `{"n":2}` || whole["args_truncated"] != nil || string(whole["args_bytes"]) != "7" {
		t.Errorf("short args listed as args %s, args_truncated %s, args_bytes %s", whole["args"], whole["args_truncated"], whole["args_bytes"])
	}
	e.call("GET", "/jobs", "", http.StatusOK, nil) // matches openapi.yaml

	var one map[string]json.RawMessage
	if err := json.Unmarshal(get("/jobs/"+itoa(big.ID)), &one); err != nil {
		t.Fatal(err)
	}
	if len(one["args"]) != big.ArgsBytes || string(one["args_bytes"]) != fullLen || one["args_truncated"] != nil {
		t.Errorf("GET /jobs/%d: args of %d bytes, args_bytes %s, args_truncated %s; want the whole %s bytes",
			big.ID, len(one["args"]), one["args_bytes"], one["args_truncated"], fullLen)
	}
	e.call("GET", "/jobs/"+itoa(small.ID), "", http.StatusOK, nil)
}

// TestEnqueueReservedMetadataKey: POST /jobs, each job of POST /jobs/batch
// and a recurring entry refuse the metadata keys Kiln sets itself with a
// 400 naming the key. POST /jobs with "kiln.batch_id" used to answer 201,
// and GET /jobs/{id}/workflow then showed the plain job in that batch with
// its members.
func TestEnqueueReservedMetadataKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	if _, err := e.client.EnqueueBatch(context.Background(), []kiln.EnqueueParams{{Args: echoArgs{}}}, &kiln.BatchOpts{ID: "victim"}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{kiln.MetadataBatchID, kiln.MetadataParentIDs, kiln.MetadataRecurringID} {
		meta := `"metadata":{"` + key + `":"victim"}`
		field := `metadata["` + key + `"]`
		e.fail("POST", "/jobs", `{"kind":"echo","args":{},`+meta+`}`, http.StatusBadRequest, field, "reserved")
		e.fail("POST", "/jobs/batch", `{"jobs":[{"kind":"echo","args":{}},{"kind":"echo","args":{},`+meta+`}]}`,
			http.StatusBadRequest, "jobs[1]."+field, "reserved")
		e.fail("PUT", "/recurring/r", `{"schedule":"@hourly","kind":"echo","args":{},`+meta+`}`, http.StatusBadRequest, field, "reserved")
	}
	if n := e.jobCount(); n != 1 {
		t.Fatalf("%d jobs after the refused enqueues, want the batch's 1", n)
	}
}

// TestEnqueueBatchUnknownParentNamesTheJob: an unknown parent in one job of
// POST /jobs/batch is a 400 naming that job's parents ("jobs[1].parents",
// it was "parents"), on both stores; POST /jobs names "parents".
func TestEnqueueBatchUnknownParentNamesTheJob(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		e := newEnvOn(t, st, nil, false)
		parent := e.enqueue(`{"kind":"echo","args":{}}`)
		e.fail("POST", "/jobs/batch", fmt.Sprintf(`{"jobs":[{"kind":"echo","args":{},"parents":[%d]},{"kind":"echo","args":{},"parents":[%d,99999]}]}`, parent.ID, parent.ID),
			http.StatusBadRequest, "jobs[1].parents", "parent job 99999")
		e.fail("POST", "/jobs", `{"kind":"echo","args":{},"parents":[99999]}`, http.StatusBadRequest, "parents", "not found")
		if n := e.jobCount(); n != 1 {
			t.Fatalf("%d jobs after the refused enqueues, want the parent", n)
		}
	})
}
