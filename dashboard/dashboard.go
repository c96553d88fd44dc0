// Package dashboard serves Kiln's web dashboard: an http.Handler that shows
// every job, queue, recurring entry, server and hosted service of a store,
// and lets an operator retry, cancel, delete and run jobs, pause queues and
// create or edit recurring jobs, as Hangfire's /hangfire dashboard and
// Sidekiq's Web UI do.
//
// Pages are rendered on the server with html/template; htmx (vendored from
// npm, embedded with the binary, see static/vendor/htmx/VERSION) refreshes
// their live parts by polling, and every page works without JavaScript. The
// pages read and change the store only through the kiln.Client, as users'
// programs do.
//
// Mount the handler anywhere:
//
//	h, err := dashboard.New(client, &dashboard.Options{Prefix: "/kiln"})
//	mux.Handle("/kiln/", h)
//
// By default only requests from the loopback interface, for a loopback host
// name (localhost, 127.0.0.1, [::1]: no DNS rebinding), are allowed (as
// Hangfire's LocalRequestsOnlyAuthorizationFilter); set Options.BasicAuth,
// Options.BearerToken or Options.Authorize to serve other clients.
package dashboard

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/httpapi"
)

// Options configures the dashboard. The zero value (or a nil *Options)
// serves the dashboard and its JSON API at the root path, read-write, to
// loopback clients only, without metrics.
type Options struct {
	// Prefix is the path the handler is mounted at, such as "/kiln"; ""
	// means the root. It must start with "/" and not end with one. Every
	// link and redirect the dashboard writes starts with it. Requests whose
	// path starts with Prefix have it stripped; others (when the handler
	// sits behind http.StripPrefix) are served as they are.
	Prefix string

	// Authorize, BasicAuth and BearerToken (and Users and Tokens, below)
	// are the ways in. Setting any of
	// them replaces the loopback-only default (see AllowRemote), and a
	// request is let in when any one that is set accepts it. A refused
	// request gets 401 with the challenges of BasicAuth and BearerToken
	// when either is set, else 403. They guard the pages, the JSON API and
	// the metrics alike.
	//
	// Wrong BasicAuth or BearerToken credentials are limited per client
	// address (IPv4 address, IPv6 /64): 10 at once, then one every 10 s.
	// Past that, the client's requests that carry credentials, right ones
	// included, get 429 Too Many Requests with Retry-After (seconds). At
	// most 10,000 clients with recent failures are remembered; past that,
	// new ones share one limit. Behind a reverse proxy every client has the
	// proxy's address and shares its limit.
	//
	// Authorize is called with each request and returns whether to let it
	// in (as Hangfire's IDashboardAuthorizationFilter).
	Authorize func(r *http.Request) bool
	// BasicAuth lets in requests with these HTTP basic credentials,
	// compared in constant time; a browser shows its login prompt.
	BasicAuth *BasicAuth
	// BearerToken, when not empty, lets in requests with the header
	// "Authorization: Bearer <token>", compared in constant time: the way
	// scripts and other services call the API.
	BearerToken string
	// AllowRemote lets in requests from any address when none of
	// Authorize, BasicAuth and BearerToken is set. Without it (the
	// default), and without them, only requests whose remote address is a
	// loopback address (127.0.0.0/8, ::1) are served, others get 403, as
	// Hangfire's LocalRequestsOnlyAuthorizationFilter does. Behind a
	// reverse proxy on the same host every request looks local: configure
	// authentication.
	AllowRemote bool

	// Users and Tokens are more ways in, like BasicAuth and BearerToken,
	// each with a name (the actor of the audit log) and a Role: a
	// RoleViewer sees every page but no action, and gets 403 on every
	// state change. BasicAuth and BearerToken are operators, recorded as
	// their user name and as "token".
	Users  []User
	Tokens []Token
	// Identify, when set, names the actor and role of each request that
	// Authorize let in (read a header your proxy sets, a client
	// certificate, ...). Nil: such requests are operators named
	// "authorized". An unknown role is taken as RoleViewer.
	Identify func(r *http.Request) Identity
	// TrustProxy makes the audit log record the client address from the
	// last X-Forwarded-For entry (the one the reverse proxy in front of
	// the dashboard appended) instead of the connection's address. Set it
	// only behind a proxy that sets the header: otherwise clients choose
	// the address recorded. It changes nothing else (the limit of wrong
	// credentials stays per connection address).
	TrustProxy bool
	// AllowedHosts lists host names, besides localhost, 127.0.0.1 and
	// [::1] (any loopback address), that the loopback-only mode answers
	// to, such as a name of this machine in /etc/hosts. Without
	// authentication and without AllowRemote, a local request whose Host
	// header names another host gets 403: it is a web page whose DNS name
	// was pointed at this machine (DNS rebinding), which the browser would
	// let read the dashboard and the API. Entries are names or IP
	// addresses without port, compared without case and trailing dot.
	// With authentication or AllowRemote, Host is not checked.
	AllowedHosts []string

	// ReadOnly hides every action (retry, cancel, delete, pause, create,
	// edit) and refuses every state-changing request with 403, for the
	// pages and the mounted API alike.
	ReadOnly bool

	// DisableAPI turns off the JSON API (package httpapi) that the
	// dashboard serves under {Prefix}/api/.
	DisableAPI bool
	// Metrics, when set, is served at {Prefix}/metrics behind the same
	// security: typically a metrics.Collector's Handler, whose owner
	// closes it. Nil serves no metrics.
	Metrics http.Handler

	// Kinds lists the job kinds the forms offer. Nil means the kinds of
	// the workers registered in the client, if any, and those of the live
	// servers (see the Servers page).
	Kinds []string

	// RevealArgs decides, per request, whether the viewer may see
	// decrypted job args (kiln.Config.Encryptor). When it returns false,
	// the pages show encrypted args only as a badge "encrypted, hidden",
	// and the mounted JSON API answers them redacted (kiln.RedactArgs;
	// see httpapi.Options.RevealArgs). Args that are not encrypted are
	// shown either way. Nil reveals them to every viewer let in when the
	// client holds the key; a client without it shows the badge
	// "encrypted, key not held". It may be called more than once per
	// request.
	RevealArgs func(r *http.Request) bool

	// TraceURL, when set, links the trace ID a job's page shows (the
	// trace of the enqueue that made the job, from its metadata
	// kiln.traceparent when tracing is on: see docs/observability.md) to
	// your tracing UI: "{trace_id}" in it is replaced by the 32 hex digits
	// of the ID, as in "https://jaeger.example/trace/{trace_id}". New
	// refuses a TraceURL without "{trace_id}". Empty shows the ID without
	// a link.
	TraceURL string

	// Logger receives errors that a page could not show (such as a failed
	// template execution). Default: slog.Default().
	Logger *slog.Logger
}

// BasicAuth holds the one user name and password of HTTP basic
// authentication.
type BasicAuth struct {
	User     string
	Password string
}

// handler is the dashboard: the router behind the security middleware.
type handler struct {
	client *kiln.Client
	opts   Options
	pages  *renderer
	mux    *http.ServeMux
	rate   *rateSampler
	// allowedHosts is Options.AllowedHosts normalized (normalizeHost).
	allowedHosts []string
	// failures limits wrong credentials per client.
	failures *authLimiter
}

// New returns the dashboard for client, configured by opts (nil: the
// defaults of Options). It returns an error if Prefix is malformed, if
// BasicAuth has an empty user or password, if TraceURL lacks
// "{trace_id}", if an AllowedHosts entry is empty or has a port, or if the
// embedded templates do not parse (a build defect). The handler is safe for concurrent use and owns no goroutine: it
// needs no closing.
func New(client *kiln.Client, opts *Options) (http.Handler, error) {
	if client == nil {
		return nil, errNoClient
	}
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Prefix != "" && (!strings.HasPrefix(o.Prefix, "/") || strings.HasSuffix(o.Prefix, "/")) {
		return nil, fmt.Errorf("dashboard: Options.Prefix %q: want \"\" or a path such as \"/kiln\" (leading slash, no trailing slash)", o.Prefix)
	}
	if o.TraceURL != "" && !strings.Contains(o.TraceURL, traceIDPlaceholder) {
		return nil, fmt.Errorf("dashboard: Options.TraceURL %q: want a URL with %s in it, such as \"https://jaeger.example/trace/%s\"", o.TraceURL, traceIDPlaceholder, traceIDPlaceholder)
	}
	if o.BasicAuth != nil && (o.BasicAuth.User == "" || o.BasicAuth.Password == "") {
		return nil, errors.New("dashboard: Options.BasicAuth: empty user or password")
	}
	if err := checkOptionsRoles(&o); err != nil {
		return nil, err
	}
	var allowedHosts []string
	for _, name := range o.AllowedHosts {
		host := normalizeHost(name)
		if _, _, err := net.SplitHostPort(name); err == nil || host == "" || strings.ContainsAny(host, "/@ \t") {
			return nil, fmt.Errorf("dashboard: Options.AllowedHosts: %q: want a host name or IP address without port, such as \"kiln.internal\"", name)
		}
		allowedHosts = append(allowedHosts, host)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	pages, err := newRenderer(o.Prefix)
	if err != nil {
		return nil, err
	}
	h := &handler{client: client, opts: o, pages: pages, mux: http.NewServeMux(), rate: newRateSampler(time.Now), allowedHosts: allowedHosts,
		failures: newAuthLimiter(time.Now, authFailureBurst, authFailureEvery, authLimiterMaxClients)}
	h.routes()
	h.mountExtras()
	return h.secure(h.stripPrefix(h.mux)), nil
}

// routes registers the pages and actions. Paths are relative to Prefix.
func (h *handler) routes() {
	m := h.mux
	m.Handle("GET /static/", staticHandler())
	m.HandleFunc("GET /{$}", h.overview)
	m.HandleFunc("GET /jobs", h.jobList)
	m.HandleFunc("POST /jobs/bulk", h.jobBulk)
	m.HandleFunc("GET /jobs/new", h.jobNewForm)
	m.HandleFunc("POST /jobs/new", h.jobCreate)
	m.HandleFunc("GET /jobs/{id}", h.jobDetail)
	m.HandleFunc("GET /jobs/{id}/workflow", h.workflowPage)
	m.HandleFunc("GET /batches/{id}", h.batchPage)
	m.HandleFunc("GET /bulk/new", h.bulkNew)
	m.HandleFunc("POST /bulk", h.bulkStart)
	m.HandleFunc("GET /bulk/{id}", h.bulkDetail)
	m.HandleFunc("POST /bulk/{id}/{action}", h.bulkAction)
	m.HandleFunc("POST /jobs/{id}/{action}", h.jobAction)
	m.HandleFunc("GET /recurring", h.recurringList)
	m.HandleFunc("GET /recurring/new", h.recurringNewForm)
	m.HandleFunc("POST /recurring/new", h.recurringSave)
	m.HandleFunc("GET /recurring/{id}", h.recurringDetail)
	m.HandleFunc("GET /recurring/{id}/edit", h.recurringEditForm)
	m.HandleFunc("POST /recurring/{id}/edit", h.recurringSave)
	m.HandleFunc("POST /recurring/{id}/{action}", h.recurringAction)
	m.HandleFunc("GET /queues", h.queueList)
	m.HandleFunc("POST /queues/{name}/{action}", h.queueAction)
	m.HandleFunc("POST /retention", h.retentionSet)
	m.HandleFunc("POST /retention/delete", h.retentionDelete)
	m.HandleFunc("GET /limits", h.limitsPage)
	m.HandleFunc("POST /limits/rate", h.rateLimitSet)
	m.HandleFunc("POST /limits/rate/delete", h.rateLimitRemove)
	m.HandleFunc("GET /servers", h.serverList)
	m.HandleFunc("GET /services", h.serviceList)
	m.HandleFunc("GET /audit", h.auditList)
	m.HandleFunc("/", h.notFound)
}

// stripPrefix removes Prefix from request paths that start with it.
func (h *handler) stripPrefix(next http.Handler) http.Handler {
	if h.opts.Prefix == "" {
		return next
	}
	stripped := http.StripPrefix(h.opts.Prefix, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == h.opts.Prefix {
			http.Redirect(w, r, h.opts.Prefix+"/", http.StatusMovedPermanently)
			return
		}
		if strings.HasPrefix(r.URL.Path, h.opts.Prefix+"/") {
			stripped.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// mountExtras mounts the JSON API under /api/ unless disabled, and the
// metrics handler at /metrics when there is one. They sit behind the same
// security layers as the pages, read-only mode included.
func (h *handler) mountExtras() {
	if !h.opts.DisableAPI {
		api := httpapi.New(h.client, &httpapi.Options{ReadOnly: h.opts.ReadOnly, Logger: h.opts.Logger, RevealArgs: h.opts.RevealArgs})
		h.mux.Handle("/api/", http.StripPrefix("/api", api))
	}
	if h.opts.Metrics != nil {
		h.mux.Handle("GET /metrics", h.opts.Metrics)
	}
}
