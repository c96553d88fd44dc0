package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/kilntest"
)

// greetArgs are the args of kind "greet", which validate themselves.
type greetArgs struct {
	Name string `json:"name"`
}

func (greetArgs) Kind() string { return "greet" }

func (a greetArgs) Validate() error {
	if a.Name == "" {
		return &kiln.ValidationError{Field: "name", Message: "required"}
	}
	return nil
}

// server is the API mounted at /api of a real HTTP server, over a client
// with workers for echo and greet.
type server struct {
	t      *testing.T
	url    string
	client *kiln.Client
}

// newServer starts a server (closed when the test ends) whose client has
// cfg's MaxArgsBytes, with an API of options opts.
func newServer(t *testing.T, opts *Options) *server {
	t.Helper()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[echoArgs]) error { return nil }))
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[greetArgs]) error { return nil }))
	client := clienttest.New(t, workers, kilntest.NewClock(testBase), false, false)
	if opts == nil {
		opts = &Options{}
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(http.StripPrefix("/api", New(client, opts)))
	t.Cleanup(srv.Close)
	return &server{t: t, url: srv.URL, client: client}
}

// send makes a request over HTTP, checks the answer against openapi.yaml,
// and returns it.
func (s *server) send(method, path, body string) *httptest.ResponseRecorder {
	s.t.Helper()
	req, err := http.NewRequestWithContext(s.t.Context(), method, s.url+"/api"+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	for k, v := range resp.Header {
		rec.Header()[k] = v
	}
	rec.WriteHeader(resp.StatusCode)
	rec.Body.Write(data)
	checkAgainstDoc(s.t, method, path, body, "application/json", rec)
	return rec
}

// refuse requires a 400 naming field, with a message containing msg.
func (s *server) refuse(method, path, body, field, msg string) {
	s.t.Helper()
	rec := s.send(method, path, body)
	var e Error
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != http.StatusBadRequest || e.Field != field || !strings.Contains(e.Message, msg) {
		s.t.Errorf("%s %s %q: %d %s; want 400 naming field %q with %q", method, path, body, rec.Code, rec.Body, field, msg)
	}
}

// wantNoJobs fails the test if any job was stored.
func (s *server) wantNoJobs() {
	s.t.Helper()
	res, err := s.client.JobList(s.t.Context(), nil)
	if err != nil || len(res.Jobs) != 0 {
		s.t.Errorf("refused requests stored jobs: %v, %v", res, err)
	}
}

// TestIntegerOptionsOutOfRange: integers beyond the documented ranges are
// a 400 naming the field, for jobs, batches and recurring entries alike
// (they were accepted, echoed, and stored truncated by PostgreSQL, or gave
// a 500 in a recurring entry), and the largest accepted value is kept.
func TestIntegerOptionsOutOfRange(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	for _, n := range []string{"2147483648", "4294967297", "9223372036854775807", "-1"} {
		s.refuse("POST", "/jobs", `{"kind":"echo","max_attempts":`+n+`}`, "max_attempts", "out of range 1 to 2147483647")
		s.refuse("POST", "/jobs/batch", `{"jobs":[{"kind":"echo"},{"kind":"echo","max_attempts":`+n+`}]}`, "jobs[1].max_attempts", "out of range")
		s.refuse("PUT", "/recurring/r", `{"schedule":"@hourly","kind":"echo","max_attempts":`+n+`}`, "max_attempts", "out of range")
		s.refuse("POST", "/jobs", `{"kind":"echo","priority":`+n+`}`, "priority", "out of range 1 to 4")
	}
	s.refuse("PUT", "/recurring/r", `{"schedule":"@hourly","kind":"echo","misfire":"run_all","misfire_max":10001}`, "misfire_max", "out of range 1 to 10000")
	s.wantNoJobs()

	rec := s.send("POST", "/jobs", `{"kind":"echo","max_attempts":2147483647}`)
	var res enqueueResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); rec.Code != http.StatusCreated || err != nil || res.Job.MaxAttempts != kiln.MaxAttemptsLimit {
		t.Fatalf("max_attempts 2147483647: %d %s", rec.Code, rec.Body)
	}
	if got, err := s.client.JobGet(t.Context(), res.Job.ID); err != nil || got.MaxAttempts != kiln.MaxAttemptsLimit {
		t.Errorf("stored max attempts %v (%v), want %d", got, err, kiln.MaxAttemptsLimit)
	}
}

// TestArgsCheckedAgainstKind: args are decoded into their kind's Go type
// at enqueue, unknown fields refused and Validate called, so that a typo
// is a 400 naming the field, not a job that fails later.
func TestArgsCheckedAgainstKind(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	for _, tc := range []struct{ args, field, msg string }{
		{`{"nme":"1"}`, "args.nme", `unknown field "nme"`},
		{`{"name":5}`, "args.name", "got a JSON number"},
		{`{"name":""}`, "args.name", "required"},
		{`{}`, "args.name", "required"},
		{`["Ada"]`, "args", "got a JSON array"},
	} {
		s.refuse("POST", "/jobs", `{"kind":"greet","args":`+tc.args+`}`, tc.field, tc.msg)
		s.refuse("POST", "/jobs/batch", `{"jobs":[{"kind":"greet","args":{"name":"a"}},{"kind":"greet","args":`+tc.args+`}]}`, "jobs[1]."+tc.field, tc.msg)
		s.refuse("PUT", "/recurring/r", `{"schedule":"@hourly","kind":"greet","args":`+tc.args+`}`, tc.field, tc.msg)
	}
	s.wantNoJobs()
	if rec := s.send("POST", "/jobs", `{"kind":"greet","args":{"name":"Ada"}}`); rec.Code != http.StatusCreated {
		t.Errorf("valid args: %d %s", rec.Code, rec.Body)
	}
}

// TestTextStoresCannotKeep: NUL, unpaired surrogates and bytes that are
// not UTF-8 in args, tags, metadata and the other strings of a body are a
// 400 naming the field, on every store alike (PostgreSQL answered 500 with
// its SQLSTATE text; SQLite stored them and later served JSON that strict
// clients could not decode; encoding/json replaced some with U+FFFD).
func TestTextStoresCannotKeep(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	for _, tc := range []struct{ body, field string }{
		{`{"kind":"greet","args":{"name":"a\u0000"}}`, "args.name"},
		{"{\"kind\":\"greet\",\"args\":{\"name\":\"\xff\"}}", "args.name"},
		{`{"kind":"greet","args":{"name":"\ud800"}}`, "args.name"},
		{`{"kind":"greet","args":{"name":"a","\u0000":1}}`, `args["\x00"]`},
		{`{"kind":"echo","tags":["ok","a\u0000"]}`, "tags[1]"},
		{"{\"kind\":\"echo\",\"tags\":[\"\xc3\x28\"]}", "tags[0]"},
		{`{"kind":"echo","tags":["\udc00"]}`, "tags[0]"},
		{`{"kind":"echo","metadata":{"trace":"\u0000"}}`, "metadata.trace"},
		// The key as decoded: its bad byte shows as U+FFFD.
		{"{\"kind\":\"echo\",\"metadata\":{\"a\xff\":\"v\"}}", "metadata[\"a\uFFFD\"]"},
		{`{"kind":"echo","queue":"q\u0000"}`, "queue"},
		{`{"jobs":[{"kind":"echo"},{"kind":"echo","tags":["\u0000"]}]}`, "jobs[1].tags[0]"},
	} {
		path := "/jobs"
		if strings.HasPrefix(tc.body, `{"jobs"`) {
			path = "/jobs/batch"
		}
		s.refuse("POST", path, tc.body, tc.field, "")
	}
	s.refuse("PUT", "/recurring/r", `{"schedule":"@hourly","kind":"echo","tags":["\u0000"]}`, "tags[0]", "NUL")
	s.wantNoJobs()
	// Escapes that only look alike, and a surrogate pair, are kept.
	rec := s.send("POST", "/jobs", `{"kind":"greet","args":{"name":"\\u0000 \ud83d\ude00 \u003c"},"tags":["\u00e9"]}`)
	var res enqueueResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); rec.Code != http.StatusCreated || err != nil {
		t.Fatalf("valid escapes: %d %s", rec.Code, rec.Body)
	}
	var args greetArgs
	if err := json.Unmarshal(res.Job.Args, &args); err != nil || args.Name != `\u0000 😀 <` || res.Job.Tags[0] != "é" {
		t.Errorf("stored args %s, tags %q", res.Job.Args, res.Job.Tags)
	}
}

// TestArgsSizeLimit: the client's Config.MaxArgsBytes holds for the API
// too, whatever the API's own body limit: larger args are a 400 naming
// args.
func TestArgsSizeLimit(t *testing.T) {
	t.Parallel()
	s := newServer(t, &Options{MaxBodyBytes: 4 << 20})
	big := `{"kind":"greet","args":{"name":"` + strings.Repeat("x", kiln.DefaultMaxArgsBytes) + `"}}`
	s.refuse("POST", "/jobs", big, "args", "at most 1048576 (Config.MaxArgsBytes)")
	s.wantNoJobs()
}
