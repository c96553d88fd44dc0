package httpjob_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/jobs/httpjob"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// request is what a test server saw.
type request struct {
	Method, ContentType, Custom, Body string
}

// newServer serves status and body and sends each request it gets on the
// returned channel.
func newServer(t *testing.T, status int, body string) (*httptest.Server, <-chan request) {
	t.Helper()
	seen := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- request{Method: r.Method, ContentType: r.Header.Get("Content-Type"), Custom: r.Header.Get("X-Custom"), Body: string(b)}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

// work runs one attempt of args with a worker using srv's client.
func work(ctx context.Context, srv *httptest.Server, args httpjob.Args) error {
	w := &httpjob.Worker{Client: srv.Client()}
	return w.Work(ctx, &kiln.Job[httpjob.Args]{JobRow: &kiln.JobRow{ID: 1, Attempt: 1}, Args: args})
}

func isCancel(err error) bool {
	var c *jobexec.CancelError
	return errors.As(err, &c)
}

func TestWorkSuccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args httpjob.Args
		want request
	}{
		{"get by default", httpjob.Args{}, request{Method: "GET"}},
		{"post when body", httpjob.Args{Body: json.RawMessage(`{"a":1}`)},
			request{Method: "POST", ContentType: "application/json", Body: `{"a":1}`}},
		{"null body is no body", httpjob.Args{Body: json.RawMessage(`null`)}, request{Method: "GET"}},
		{"method and headers", httpjob.Args{Method: "put", Headers: map[string]string{"X-Custom": "yes"}, Body: json.RawMessage(`[1]`)},
			request{Method: "PUT", ContentType: "application/json", Custom: "yes", Body: `[1]`}},
		{"header overrides content type", httpjob.Args{Headers: map[string]string{"Content-Type": "application/vnd.x+json"}, Body: json.RawMessage(`{}`)},
			request{Method: "POST", ContentType: "application/vnd.x+json", Body: `{}`}},
	}
	for _, status := range []int{200, 201, 204} {
		for _, tt := range tests {
			srv, seen := newServer(t, status, "fine")
			tt.args.URL = srv.URL + "/hook"
			if err := work(context.Background(), srv, tt.args); err != nil {
				t.Fatalf("%s, status %d: Work: %v", tt.name, status, err)
			}
			if got := <-seen; got != tt.want {
				t.Errorf("%s: server saw %+v, want %+v", tt.name, got, tt.want)
			}
		}
	}
}

func TestWorkRetryableStatus(t *testing.T) {
	t.Parallel()
	for _, status := range []int{500, 502, 503, 408, 429} {
		srv, _ := newServer(t, status, "  try later\n")
		err := work(context.Background(), srv, httpjob.Args{URL: srv.URL})
		if err == nil || isCancel(err) {
			t.Fatalf("status %d: got %v, want a retryable error", status, err)
		}
		for _, want := range []string{"GET " + srv.URL, "status " + strconv.Itoa(status), `body: "try later"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("status %d: error %q lacks %q", status, err, want)
			}
		}
	}
}

func TestWorkPermanentStatus(t *testing.T) {
	t.Parallel()
	for _, status := range []int{400, 401, 403, 404, 410, 422} {
		srv, _ := newServer(t, status, `{"error":"nope"}`)
		err := work(context.Background(), srv, httpjob.Args{URL: srv.URL})
		if !isCancel(err) {
			t.Fatalf("status %d: got %v, want a JobCancel error", status, err)
		}
		if !strings.Contains(err.Error(), http.StatusText(status)) || !strings.Contains(err.Error(), `nope`) {
			t.Errorf("status %d: error %q lacks the status or the body", status, err)
		}
	}
}

func TestWorkErrorBodyCut(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, 500, strings.Repeat("x", 2000))
	err := work(context.Background(), srv, httpjob.Args{URL: srv.URL})
	if err == nil {
		t.Fatal("no error")
	}
	if n := strings.Count(err.Error(), "x"); n != 512 {
		t.Errorf("error quotes %d bytes of the body, want 512", n)
	}
	if !strings.Contains(err.Error(), "500") {
		t.Errorf("error %q lacks the status code", err)
	}
}

func TestWorkNetworkError(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, 200, "")
	url := srv.URL
	srv.Close() // nothing listens there now
	err := work(context.Background(), srv, httpjob.Args{URL: url})
	if err == nil || isCancel(err) {
		t.Fatalf("got %v, want a retryable error", err)
	}
	if !strings.Contains(err.Error(), "GET "+url) {
		t.Errorf("error %q does not name the request", err)
	}
}

func TestWorkHonoursContext(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- work(ctx, srv, httpjob.Args{URL: srv.URL}) }()
	<-arrived
	cancel()
	if err := testutil.Receive(t, done, "Work to return after its context was cancelled", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args httpjob.Args
		want string
	}{
		{httpjob.Args{URL: ""}, "absolute http or https"},
		{httpjob.Args{URL: "/relative/path"}, "absolute http or https"},
		{httpjob.Args{URL: "ftp://example.com/x"}, "absolute http or https"},
		{httpjob.Args{URL: "http://"}, "absolute http or https"},
		{httpjob.Args{URL: "http://a b.com/%zz"}, "invalid url"},
		{httpjob.Args{URL: "http://example.com", Method: "GE T"}, "invalid method"},
		{httpjob.Args{URL: "http://example.com", Headers: map[string]string{"Bad Name": "x"}}, "invalid header name"},
		{httpjob.Args{URL: "http://example.com", Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, "line breaks"},
		{httpjob.Args{URL: "http://example.com", Body: json.RawMessage(`{`)}, "not valid JSON"},
		{httpjob.Args{URL: "http://example.com", TimeoutSeconds: -1}, "timeout_seconds"},
	}
	for _, tt := range tests {
		err := tt.args.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tt.args, err, tt.want)
		}
		// Work never sends invalid args: it cancels the job.
		if err := (&httpjob.Worker{}).Work(context.Background(), &kiln.Job[httpjob.Args]{JobRow: &kiln.JobRow{}, Args: tt.args}); !isCancel(err) {
			t.Errorf("Work(%+v) = %v, want a JobCancel error", tt.args, err)
		}
	}
	if err := (httpjob.Args{URL: "https://user:secret@example.com/x?y=1", Method: "PATCH"}).Validate(); err != nil {
		t.Errorf("valid args: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	w := &httpjob.Worker{}
	if got := w.Timeout(&kiln.Job[httpjob.Args]{Args: httpjob.Args{TimeoutSeconds: 7}}); got != 7*time.Second {
		t.Errorf("Timeout = %s, want 7s", got)
	}
	if got := w.Timeout(&kiln.Job[httpjob.Args]{}); got != 0 {
		t.Errorf("Timeout = %s, want 0 (the client's)", got)
	}
}

func TestErrorRedactsPassword(t *testing.T) {
	t.Parallel()
	srv, _ := newServer(t, 503, "")
	u := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1)
	err := work(context.Background(), srv, httpjob.Args{URL: u})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v shows the password", err)
	}
}

// TestThroughClient runs HTTP jobs through a real client and checks the
// state each outcome leaves the job in.
func TestThroughClient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no such hook", 404) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	workers := kiln.NewWorkers()
	httpjob.Register(workers, srv.Client())
	client, err := kiln.NewClient(&kiln.Config{
		Store: st, Workers: workers, FetchPollInterval: 10 * time.Millisecond,
		RetryPolicy: hourBackoff{}, DisableMaintenance: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := client.Subscribe(kiln.EventJobCompleted, kiln.EventJobFailed, kiln.EventJobCancelled)
	defer unsubscribe()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := client.Stop(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()

	want := map[string]kiln.JobState{
		"/ok":   kiln.JobStateCompleted,
		"/down": kiln.JobStateRetryable,
		"/gone": kiln.JobStateCancelled,
		"":      kiln.JobStateCancelled, // enqueued with a relative URL: invalid args
	}
	// A client with the worker refuses invalid args at enqueue; a client
	// without it (another program) stores them, and the job is cancelled.
	_, err = client.Enqueue(ctx, httpjob.Args{URL: "/not/absolute"}, nil)
	var invalid *kiln.ValidationError
	if !errors.As(err, &invalid) || invalid.Field != "args" || !strings.Contains(err.Error(), "absolute") {
		t.Fatalf("enqueue with a relative URL: %v, want a validation error for args", err)
	}
	enqueuer, err := kiln.NewClient(&kiln.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64]string{}
	for path := range want {
		var res *kiln.EnqueueResult
		if path == "" {
			res, err = enqueuer.Enqueue(ctx, kiln.RawArgs{JobKind: httpjob.Kind, JSON: []byte(`{"url":"/not/absolute"}`)}, nil)
		} else {
			res, err = client.Enqueue(ctx, httpjob.Args{URL: srv.URL + path}, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		ids[res.Job.ID] = path
	}
	for len(ids) > 0 {
		ev := testutil.Receive(t, events, fmt.Sprintf("jobs %v to finish", ids), func(ev *kiln.Event) bool {
			_, ok := ids[ev.Job.ID]
			return ok
		})
		path := ids[ev.Job.ID]
		delete(ids, ev.Job.ID)
		if ev.Job.State != want[path] {
			t.Errorf("%q: job ended %s, want %s (error %q)", path, ev.Job.State, want[path], ev.Job.LastError)
		}
		if path == "/down" && !strings.Contains(ev.Job.LastError, "503") {
			t.Errorf("/down: last error %q lacks the status", ev.Job.LastError)
		}
	}
}

type hourBackoff struct{}

func (hourBackoff) Backoff(int) time.Duration { return time.Hour }
