// Package httpapi is Kiln's JSON HTTP API: enqueue jobs of any kind from
// any language, and list, inspect, cancel, retry and delete jobs; define,
// trigger, pause and resume recurring entries; pause and resume queues;
// read, set and remove rate limits; read servers and stats. It goes through the same [kiln.Client] methods as
// Go programs do.
//
// The handler returned by [New] serves paths relative to where it is
// mounted (mount it with http.StripPrefix, as the dashboard does at
// {prefix}/api). Its routes and bodies are described by an OpenAPI 3.0
// document, kept in this package as openapi.yaml and served at
// GET /openapi.yaml and GET /openapi.json; docs/http-api.md has examples.
//
// Requests and responses are JSON with the snake_case field names of
// package kilntype; times are RFC 3339 in UTC. Every error is answered with
// a JSON [Error] and a status code: 400 for bad JSON, an unknown kind, a bad
// cron spec or time zone and other invalid input; 403 for a state-changing
// request in read-only mode; 404 for an unknown job, entry or route; 405
// for a method a route does not have; 409 for a state conflict (retrying a
// running job, cancelling a completed one); 413 for a body over
// Options.MaxBodyBytes; 415 for a state-changing request (POST, PUT,
// PATCH, DELETE) with a Content-Type other than application/json, or with
// a body and no Content-Type. That last rule keeps the HTML forms and
// other "simple" cross-site requests of browsers out, on routes with a
// body and without one alike: a form can only send
// application/x-www-form-urlencoded, multipart/form-data or text/plain.
//
// The handler does no authentication and no CSRF checking: wrap it, as the
// dashboard's middleware does, before exposing it.
package httpapi

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/schedule"
)

// DefaultMaxBodyBytes is the largest request body accepted when
// Options.MaxBodyBytes is 0: 1 MiB.
const DefaultMaxBodyBytes = 1 << 20

// Options configures the handler. The zero value (and a nil *Options) is
// a writable API with a 1 MiB body limit that logs to slog.Default().
type Options struct {
	// ReadOnly makes every state-changing route (enqueue, cancel, retry,
	// delete, recurring changes, queue pauses, rate limits) answer 403
	// Forbidden; reads still work.
	ReadOnly bool
	// MaxBodyBytes caps request bodies, in bytes; a larger body is answered
	// with 413. 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives internal errors (the 500 answers). Default:
	// slog.Default().
	Logger *slog.Logger
	// RevealArgs decides, per request, whether the caller may read
	// decrypted job args (kiln.Config.Encryptor). When it returns false,
	// every job and recurring entry the request answers has its encrypted
	// args replaced by the redacted stand-in (kiln.RedactArgs), as a
	// process without the key answers: {"kiln_enc":{"kid":"<key ID>",
	// "redacted":true}}, with args_encrypted true. Args that are not
	// encrypted are shown either way. Nil reveals them to every caller
	// when the client holds the key (a client without it always redacts).
	// It may be called more than once per request.
	RevealArgs func(r *http.Request) bool
}

// api is the state shared by the handlers.
type api struct {
	client   *kiln.Client
	readOnly bool
	maxBody  int64
	logger   *slog.Logger
	mux      *http.ServeMux
	// bulkMux routes the paths under bulkPrefix: GET /jobs/bulk/{id} and
	// GET /jobs/{id}/attempts would conflict in one ServeMux (each
	// matches /jobs/bulk/attempts).
	bulkMux *http.ServeMux
	// reveal is Options.RevealArgs.
	reveal func(*http.Request) bool
}

// New returns the API's handler for client; opts may be nil. The handler is
// safe for concurrent use. It routes with net/http's ServeMux, so a path
// that exists with another method is answered 405 with an Allow header;
// both 404 and 405 come with a JSON Error body.
func New(client *kiln.Client, opts *Options) http.Handler {
	if opts == nil {
		opts = &Options{}
	}
	a := &api{client: client, readOnly: opts.ReadOnly, maxBody: opts.MaxBodyBytes, logger: opts.Logger, mux: http.NewServeMux(),
		bulkMux: http.NewServeMux(), reveal: opts.RevealArgs}
	if a.maxBody <= 0 {
		a.maxBody = DefaultMaxBodyBytes
	}
	if a.logger == nil {
		a.logger = slog.Default()
	}
	for _, rt := range routes() {
		mux := a.mux
		if strings.HasPrefix(rt.path, bulkPrefix) {
			mux = a.bulkMux
		}
		mux.Handle(rt.method+" "+rt.path, a.wrap(rt))
	}
	return a
}

// ServeHTTP routes r. Requests that match no route get ServeMux's answer
// (404, or 405 with Allow) as a JSON Error.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mux := a.mux
	if strings.HasPrefix(r.URL.Path, bulkPrefix) {
		mux = a.bulkMux
	}
	h, pattern := mux.Handler(r)
	if pattern != "" {
		mux.ServeHTTP(w, r)
		return
	}
	rec := &statusRecorder{header: http.Header{}}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusNotFound:
		writeError(w, &Error{Status: http.StatusNotFound, Message: "no route " + r.URL.Path + "; see openapi.json for the routes"})
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", rec.header.Get("Allow"))
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Message: "method " + r.Method + " not allowed on " + r.URL.Path + "; allowed: " + rec.header.Get("Allow")})
	default: // a redirect to a cleaned path
		h.ServeHTTP(w, r)
	}
}

// statusRecorder keeps the status and headers ServeMux's fallback handlers
// write, and drops their plain-text bodies.
type statusRecorder struct {
	header http.Header
	status int
}

func (s *statusRecorder) Header() http.Header { return s.header }
func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
}
func (s *statusRecorder) Write(b []byte) (int, error) {
	s.WriteHeader(http.StatusOK)
	return len(b), nil
}

// wrap turns a route's handler into an http.Handler: read-only refusal,
// body limit, the Content-Type of state-changing requests
// (checkContentType), and errors written as JSON.
func (a *api) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.mutates && a.readOnly {
			writeError(w, &Error{Status: http.StatusForbidden, Message: "read-only mode: " + rt.method + " " + rt.path + " changes state and is disabled"})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.maxBody)
		if err := checkContentType(r); err != nil {
			writeError(w, err)
			return
		}
		if err := rt.handle(a, w, r); err != nil {
			e := a.toError(err)
			if e.Status >= 500 {
				a.logger.Error("kiln: http api", "method", r.Method, "path", r.URL.Path, "error", err)
			}
			writeError(w, e)
		}
	})
}

// hideArgs reports whether r's caller may not read decrypted args
// (Options.RevealArgs).
func (a *api) hideArgs(r *http.Request) bool {
	return a.reveal != nil && !a.reveal(r)
}

// redactJobs redacts the encrypted args of rows when r's caller may not
// read them.
func (a *api) redactJobs(r *http.Request, rows ...*kilntype.JobRow) {
	if !a.hideArgs(r) {
		return
	}
	for _, row := range rows {
		if row != nil {
			kiln.RedactArgs(row)
		}
	}
}

// viewOf is row as the API shows it to r's caller: with its schedule in
// words, and its encrypted args redacted when the caller may not read
// them.
func (a *api) viewOf(r *http.Request, row *kilntype.RecurringRow) recurringView {
	if row.ArgsEncrypted && a.hideArgs(r) {
		job := &kilntype.JobRow{Args: row.Args, ArgsEncrypted: true}
		kiln.RedactArgs(job)
		cp := *row
		cp.Args = job.Args
		row = &cp
	}
	return recurringView{RecurringRow: row, Description: schedule.Describe(row.Schedule)}
}
