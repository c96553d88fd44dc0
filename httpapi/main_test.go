package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m)) }

// testBase is the time the clients' clocks start at.
var testBase = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// echoArgs are the args of kind "echo", whose worker completes.
type echoArgs struct {
	N int `json:"n"`
}

func (echoArgs) Kind() string { return "echo" }

// blockArgs are the args of kind "block", whose worker logs Lines lines
// and then runs until its context is cancelled.
type blockArgs struct {
	Lines int `json:"lines"`
}

func (blockArgs) Kind() string { return "block" }

// failArgs are the args of kind "fail", whose worker always fails.
type failArgs struct{}

func (failArgs) Kind() string { return "fail" }

// env is an API mounted at /api over a client on a fresh SQLite store.
type env struct {
	t      *testing.T
	client *kiln.Client
	store  *sqlite.Store // the client's store
	clock  *kilntest.Clock
	h      http.Handler
}

// newEnv returns an env whose client has workers for echo, block and fail;
// start also starts the client (stopped when the test ends).
func newEnv(t *testing.T, opts *Options, start bool) *env {
	t.Helper()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[echoArgs]) error { return nil }))
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[blockArgs]) error {
		for i := range job.Args.Lines {
			if err := job.Logf(ctx, "line %d", i+1); err != nil {
				return err
			}
		}
		<-ctx.Done()
		return kiln.JobCancel(ctx.Err())
	}))
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[failArgs]) error { return errors.New("always fails") }))
	clock := kilntest.NewClock(testBase)
	st := clienttest.OpenStore(t)
	client := clienttest.NewOn(t, st, workers, clock, start, false)
	if opts == nil {
		opts = &Options{}
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	return &env{t: t, client: client, store: st, clock: clock, h: http.StripPrefix("/api", New(client, opts))}
}

// do sends a request to the API (path without the /api prefix) with body
// as JSON unless empty, and checks the response against openapi.yaml:
// its status must be documented for the route and its body must match.
// Requests that succeed are checked against the document too.
func (e *env) do(method, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	if body == "" {
		return e.doType(method, path, body, "")
	}
	return e.doType(method, path, body, "application/json")
}

// doType is do with a Content-Type of choice ("" for none), sent even
// with an empty body.
func (e *env) doType(method, path, body, contentType string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, "/api"+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	checkAgainstDoc(e.t, method, path, body, contentType, rec)
	return rec
}

// call does a request, requires status want, and decodes the body into out
// (if not nil).
func (e *env) call(method, path, body string, want int, out any) {
	e.t.Helper()
	rec := e.do(method, path, body)
	if rec.Code != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, rec.Code, want, rec.Body)
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, rec.Body, err)
		}
	}
}

// fail does a request that must fail with status and an Error whose field
// is field and whose message contains msg.
func (e *env) fail(method, path, body string, status int, field, msg string) {
	e.t.Helper()
	var got Error
	e.call(method, path, body, status, &got)
	if got.Field != field || !strings.Contains(got.Message, msg) {
		e.t.Fatalf("%s %s %s: error %+v; want field %q and a message containing %q", method, path, body, got, field, msg)
	}
}

// job returns the job with the given ID through the API.
func (e *env) job(id int64) *kilntype.JobRow {
	e.t.Helper()
	var row kilntype.JobRow
	e.call("GET", "/jobs/"+itoa(id), "", http.StatusOK, &row)
	return &row
}

// enqueue enqueues body through POST /jobs and returns the job.
func (e *env) enqueue(body string) *kilntype.JobRow {
	e.t.Helper()
	var res enqueueResult
	e.call("POST", "/jobs", body, http.StatusCreated, &res)
	return res.Job
}

// waitState waits until job id is in state.
func (e *env) waitState(id int64, state kilntype.JobState) *kilntype.JobRow {
	e.t.Helper()
	return clienttest.WaitState(e.t, e.client, id, state)
}

// jobCount returns how many jobs GET /jobs lists.
func (e *env) jobCount() int {
	e.t.Helper()
	var page jobPage
	e.call("GET", "/jobs?limit=10000", "", http.StatusOK, &page)
	return len(page.Jobs)
}

func itoa(id int64) string { return strconv.FormatInt(id, 10) }

// openAPI is openapi.yaml loaded and validated once, with a router for
// matching requests to its operations.
var openAPI = sync.OnceValues(func() (routers.Router, error) {
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	doc.Servers = openapi3.Servers{{URL: "http://example.com/api"}}
	return gorillamux.NewRouter(doc)
})

// checkAgainstDoc validates a response (and, when it succeeded, its
// request) against openapi.yaml. Requests for routes the document does not
// have are left to the tests that make them (404, 405).
func checkAgainstDoc(t *testing.T, method, path, body, contentType string, rec *httptest.ResponseRecorder) {
	t.Helper()
	router, err := openAPI()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	req := httptest.NewRequest(method, "http://example.com/api"+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("%s %s answered %d but the document has no such operation: %v", method, path, rec.Code, err)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if rec.Code < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Fatalf("%s %s %s succeeded (%d) but the document rejects the request: %v", method, path, body, rec.Code, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
		Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: in.Options,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		var schemaErr *openapi3.SchemaError
		if errors.As(err, &schemaErr) {
			t.Fatalf("%s %s: response %d does not match the document at %v: %v\nbody: %s", method, path, rec.Code, schemaErr.JSONPointer(), err, rec.Body)
		}
		t.Fatalf("%s %s: response %d does not match the document: %v\nbody: %s", method, path, rec.Code, err, rec.Body)
	}
}
