package dashboard_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// okArgs is a job that succeeds.
type okArgs struct {
	Text string `json:"text"`
}

func (okArgs) Kind() string { return "test.ok" }

// failOnceArgs is a job whose first attempt fails with "boom".
type failOnceArgs struct{}

func (failOnceArgs) Kind() string { return "test.fail_once" }

// reportArgs is a job that reports progress 40 and logs two lines, then
// waits for its env's release.
type reportArgs struct{}

func (reportArgs) Kind() string { return "test.report" }

// env is a started client on a fresh SQLite store with the dashboard in
// front of it, served by an httptest server on 127.0.0.1.
type env struct {
	client *kiln.Client
	store  *sqlite.Store
	srv    *httptest.Server
	// base is the dashboard's URL: the server's plus the prefix.
	base string
	// release lets the running reportArgs jobs return.
	release chan struct{}
}

// newEnv builds an env; opts may be nil. The client runs queues default
// and other, with fast polls.
func newEnv(t testing.TB, opts *dashboard.Options) *env {
	t.Helper()
	st := clienttest.OpenStore(t)
	workers := kiln.NewWorkers()
	release := make(chan struct{})
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, j *kiln.Job[okArgs]) error { return nil }))
	addFormWorkers(workers)
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, j *kiln.Job[reportArgs]) error {
		if err := j.Progress(ctx, 40); err != nil {
			return err
		}
		if err := j.Log(ctx, "step 1 <b>done</b>"); err != nil {
			return err
		}
		if err := j.Logf(ctx, "step %d started", 2); err != nil {
			return err
		}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, j *kiln.Job[failOnceArgs]) error {
		if j.Attempt == 1 {
			return errors.New("boom")
		}
		return nil
	}))
	client, err := kiln.NewClient(&kiln.Config{
		Store: st, Workers: workers,
		Queues:                map[string]kiln.QueueConfig{"default": {MaxWorkers: 10}, "other": {MaxWorkers: 2}},
		FetchPollInterval:     20 * time.Millisecond,
		ScheduleInterval:      20 * time.Millisecond,
		RecurringPollInterval: 50 * time.Millisecond,
		// The reportArgs jobs run until the test releases them, which a
		// browser test on a loaded machine may take minutes to do: with
		// JobTimeout's default minute, or a 20 s lease whose renewals run
		// late, a job shown as running would fail or be taken back under
		// the test.
		JobTimeout: -1, LeaseDuration: 10 * time.Minute,
	})
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	if err := client.Start(context.Background()); err != nil {
		t.Fatalf("start client: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			t.Errorf("stop client: %v", err)
		}
	})
	h, err := dashboard.New(client, opts)
	if err != nil {
		t.Fatalf("dashboard.New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	prefix := ""
	if opts != nil {
		prefix = opts.Prefix
	}
	e := &env{client: client, store: st, srv: srv, base: srv.URL + prefix, release: release}
	t.Cleanup(e.releaseJobs) // before the client stops (cleanups run last first)
	return e
}

// enqueue enqueues args with opts and returns the job's ID.
func (e *env) enqueue(t testing.TB, args kiln.JobArgs, opts *kiln.EnqueueOpts) int64 {
	t.Helper()
	res, err := e.client.Enqueue(context.Background(), args, opts)
	if err != nil {
		t.Fatalf("enqueue %s: %v", args.Kind(), err)
	}
	return res.Job.ID
}

// waitState waits until job id is in state want (clienttest.WaitState).
func (e *env) waitState(t testing.TB, id int64, want kiln.JobState) *kiln.JobRow {
	t.Helper()
	return clienttest.WaitState(t, e.client, id, want)
}

// noRedirects is an HTTP client that returns redirects instead of following
// them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// get fetches path (relative to the dashboard) and returns the status and
// body.
func (e *env) get(t testing.TB, path string) (int, string) {
	t.Helper()
	resp, err := noRedirects.Get(e.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, readAll(t, resp)
}

// post submits form to path the way a browser on the dashboard's own page
// does (same-origin), and returns the response (redirects not followed).
func (e *env) post(t testing.TB, path string, form map[string][]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader(encodeForm(form)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", e.srv.URL)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// farFuture is a RunAt that keeps jobs scheduled during a test.
var farFuture = time.Now().Add(24 * time.Hour)

// releaseJobs lets the running reportArgs jobs return; calling it twice is
// harmless.
func (e *env) releaseJobs() {
	select {
	case <-e.release:
	default:
		close(e.release)
	}
}

// wantState fails the test unless job id is in state want: a refused
// request must have changed nothing.
func (e *env) wantState(t testing.TB, id int64, want kiln.JobState) {
	t.Helper()
	job, err := e.client.JobGet(context.Background(), id)
	if err != nil {
		t.Fatalf("get job %d: %v", id, err)
	}
	if job.State != want {
		t.Fatalf("job %d is %s; want %s (a refused request changed it)", id, job.State, want)
	}
}
