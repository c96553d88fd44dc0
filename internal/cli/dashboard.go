package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
	"github.com/kilnjobs/kiln/metrics"
)

// Environment variables that configure the dashboard's authentication:
// secrets stay out of the command line (and of ps).
const (
	envDashboardPassword = "KILN_DASHBOARD_PASSWORD"
	envDashboardToken    = "KILN_DASHBOARD_TOKEN"
	// envDashboardViewerToken is a bearer token with the viewer role
	// (dashboard.RoleViewer), recorded in the audit log as "viewer".
	envDashboardViewerToken = "KILN_DASHBOARD_VIEWER_TOKEN"
	// envDashboardViewerPassword, followed by a --dashboard-viewer name in
	// upper case, holds that viewer's password.
	envDashboardViewerPassword = "KILN_DASHBOARD_VIEWER_PASSWORD_"
)

// defaultDashboardAddr is where serve and demo serve the dashboard.
const defaultDashboardAddr = "127.0.0.1:8080"

// dashboardShutdownTimeout bounds the wait for open dashboard requests
// when the command stops.
const dashboardShutdownTimeout = 5 * time.Second

// dashboardFlags are the dashboard flags of serve and demo.
type dashboardFlags struct {
	addr         string
	user         string
	readOnly     bool
	allowedHosts []string
	viewers      []string
	trustProxy   bool
}

// register adds the flags to fs.
func (f *dashboardFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.addr, "dashboard-addr", defaultDashboardAddr,
		`address of the web dashboard and JSON API (HOST:PORT); "" or "off" disables it`)
	fs.StringVar(&f.user, "dashboard-user", "",
		"require HTTP basic auth with this user and the password in $"+envDashboardPassword)
	fs.BoolVar(&f.readOnly, "dashboard-read-only", false, "serve the dashboard without any action (no retry, cancel, pause...)")
	fs.StringSliceVar(&f.allowedHosts, "dashboard-allowed-host", nil,
		"a host name besides localhost, 127.0.0.1 and [::1] that the dashboard answers to without authentication (repeatable)")
	fs.StringSliceVar(&f.viewers, "dashboard-viewer", nil,
		"a basic-auth user with the viewer role (sees everything, changes nothing), as NAME; its password in $KILN_DASHBOARD_VIEWER_PASSWORD_<NAME> (repeatable)")
	fs.BoolVar(&f.trustProxy, "dashboard-trust-proxy", false,
		"record the client address of the audit log from X-Forwarded-For (only behind a reverse proxy that sets it)")
}

// dashboardServer is the dashboard's HTTP server, with its JSON API and
// Prometheus metrics: it owns the goroutine that serves them and the
// metrics collector until Shutdown.
type dashboardServer struct {
	srv     *http.Server
	metrics *metrics.Collector
	done    chan error
	// URL is the dashboard's address for a browser.
	URL string
}

// startDashboard serves the dashboard of client as f says, or returns nil
// when it is disabled. The address is taken before it returns, so that a
// busy port is reported at once: as an error when the user chose the
// address (explicit), as a warning on stderr otherwise, the process then
// running without a dashboard. An address other hosts can reach, without
// authentication to let them in, gets a warning on stderr too.
func startDashboard(f *dashboardFlags, explicit bool, client *kiln.Client, getenv func(string) string, logger *slog.Logger, stderr io.Writer) (*dashboardServer, error) {
	if f.addr == "" || strings.EqualFold(f.addr, "off") {
		return nil, nil
	}
	opts := &dashboard.Options{ReadOnly: f.readOnly, Logger: logger, BearerToken: getenv(envDashboardToken), AllowedHosts: f.allowedHosts,
		TrustProxy: f.trustProxy}
	if f.user != "" {
		pass := getenv(envDashboardPassword)
		if pass == "" {
			return nil, usageErrorf("--dashboard-user %q needs the password in $%s", f.user, envDashboardPassword)
		}
		opts.BasicAuth = &dashboard.BasicAuth{User: f.user, Password: pass}
	}
	for _, name := range f.viewers {
		env := envDashboardViewerPassword + strings.ToUpper(name)
		pass := getenv(env)
		if pass == "" {
			return nil, usageErrorf("--dashboard-viewer %q needs its password in $%s", name, env)
		}
		opts.Users = append(opts.Users, dashboard.User{Name: name, Password: pass, Role: dashboard.RoleViewer})
	}
	if tok := getenv(envDashboardViewerToken); tok != "" {
		opts.Tokens = append(opts.Tokens, dashboard.Token{Name: "viewer", Secret: tok, Role: dashboard.RoleViewer})
	}
	col, err := metrics.New(client, &metrics.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	opts.Metrics = col.Handler()
	h, err := dashboard.New(client, opts)
	if err != nil {
		col.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		col.Close()
		if !explicit && errors.Is(err, syscall.EADDRINUSE) {
			fmt.Fprintf(stderr, "Warning: no dashboard: %s is in use (choose another with --dashboard-addr, or --dashboard-addr off).\n", f.addr)
			return nil, nil
		}
		return nil, fmt.Errorf("dashboard: listen on --dashboard-addr %s: %w", f.addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && opts.BasicAuth == nil && opts.BearerToken == "" &&
		len(opts.Users) == 0 && len(opts.Tokens) == 0 {
		host, _, _ := net.SplitHostPort(f.addr) // it was listened on
		fmt.Fprintf(stderr, "Warning: the dashboard listens on %s, but without authentication it serves only requests from this machine: "+
			"other hosts get 403. To serve them, set --dashboard-user (password in $%s) or $%s.\n",
			net.JoinHostPort(host, fmt.Sprint(tcp.Port)), envDashboardPassword, envDashboardToken)
	}
	s := &dashboardServer{
		metrics: col,
		srv:     newDashboardHTTPServer(h, logger, defaultDashboardLimits),
		done:    make(chan error, 1),
		URL:     dashboardURL(ln.Addr()),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// dashboardLimits bound what one client of the dashboard's HTTP server may
// hold: slow or idle connections are closed, big headers refused.
type dashboardLimits struct {
	// ReadHeader is the time a request's headers may take to arrive.
	ReadHeader time.Duration
	// Read is the time a whole request, body included, may take to
	// arrive. It does not bound the handler: net/http lifts the read
	// deadline once the body is read.
	Read time.Duration
	// Idle is how long a kept-alive connection may wait for its next
	// request.
	Idle time.Duration
	// MaxHeaderBytes caps a request's headers (431 beyond).
	MaxHeaderBytes int
}

// defaultDashboardLimits are the limits of kiln serve's and kiln demo's
// dashboard. Its requests are small (forms, JSON bodies of at most
// httpapi.DefaultMaxBodyBytes) and its live views poll, so a few seconds
// would do; these leave room for slow links.
var defaultDashboardLimits = dashboardLimits{
	ReadHeader:     10 * time.Second,
	Read:           30 * time.Second,
	Idle:           60 * time.Second,
	MaxHeaderBytes: 64 << 10,
}

// newDashboardHTTPServer returns the HTTP server for the dashboard handler
// h, with limits l, logging its errors (bad requests, failed accepts) to
// logger at warn level. It sets no WriteTimeout, which would cut
// responses that take long to send; handlers may run past l.Read.
func newDashboardHTTPServer(h http.Handler, logger *slog.Logger, l dashboardLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// dashboardURL returns the URL a browser on this machine opens for a
// listener's address: a wildcard host becomes localhost.
func dashboardURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String() + "/"
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port)) + "/"
}

// Shutdown stops the server gracefully: it stops accepting, waits up to
// dashboardShutdownTimeout for open requests, and returns once the serving
// goroutine has exited. A nil server does nothing.
func (s *dashboardServer) Shutdown() error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), dashboardShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close() // requests still open after the timeout
	}
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	s.metrics.Close()
	if err != nil {
		return fmt.Errorf("dashboard: shut down: %w", err)
	}
	return nil
}

// announce prints where the dashboard is, if it runs.
func (s *dashboardServer) announce(out io.Writer) {
	if s != nil {
		fmt.Fprintf(out, "Dashboard: %s (JSON API under %sapi/, Prometheus metrics at %smetrics)\n", s.URL, s.URL, s.URL)
	}
}
