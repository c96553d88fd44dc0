package dashboard_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
)

// serve sends r to a dashboard built with opts on e's client, and returns
// the recorded response.
func serve(t *testing.T, e *env, opts *dashboard.Options, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	h, err := dashboard.New(e.client, opts)
	if err != nil {
		t.Fatalf("dashboard.New: %v", err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// request builds a request from remote address remote, for Host
// localhost.
func request(method, target, remote string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	r.Host = "localhost"
	return r
}

const (
	local  = "127.0.0.1:50000"
	local6 = "[::1]:50000"
	remote = "203.0.113.7:50000"
)

func TestAuthLoopbackByDefault(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		addr string
		want int
	}{{local, 200}, {local6, 200}, {remote, 403}} {
		if w := serve(t, e, nil, request("GET", "/", tc.addr)); w.Code != tc.want {
			t.Errorf("GET / from %s: %d; want %d", tc.addr, w.Code, tc.want)
		}
	}
	if w := serve(t, e, &dashboard.Options{AllowRemote: true}, request("GET", "/", remote)); w.Code != 200 {
		t.Errorf("AllowRemote: %d; want 200", w.Code)
	}
}

func TestAuthBasic(t *testing.T) {
	e := newEnv(t, nil)
	opts := &dashboard.Options{BasicAuth: &dashboard.BasicAuth{User: "ops", Password: "s3cret"}}
	for _, tc := range []struct {
		name       string
		user, pass string
		set        bool
		want       int
	}{
		{"none", "", "", false, 401},
		{"wrong password", "ops", "nope", true, 401},
		{"wrong user", "dev", "s3cret", true, 401},
		{"right", "ops", "s3cret", true, 200},
	} {
		// From a remote address: configured auth replaces the loopback rule.
		r := request("GET", "/", remote)
		if tc.set {
			r.SetBasicAuth(tc.user, tc.pass)
		}
		w := serve(t, e, opts, r)
		if w.Code != tc.want {
			t.Errorf("%s: %d; want %d", tc.name, w.Code, tc.want)
		}
		if tc.want == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: no Basic challenge", tc.name)
		}
	}
	if _, err := dashboard.New(e.client, &dashboard.Options{BasicAuth: &dashboard.BasicAuth{User: "ops"}}); err == nil {
		t.Error("empty password accepted")
	}
}

func TestAuthBearer(t *testing.T) {
	e := newEnv(t, nil)
	opts := &dashboard.Options{BearerToken: "tok-123"}
	for _, tc := range []struct {
		header string
		want   int
	}{{"", 401}, {"Bearer nope", 401}, {"Basic tok-123", 401}, {"Bearer tok-123", 200}, {"bearer tok-123", 200}} {
		r := request("GET", "/jobs", remote)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if w := serve(t, e, opts, r); w.Code != tc.want {
			t.Errorf("Authorization %q: %d; want %d", tc.header, w.Code, tc.want)
		}
	}
}

func TestAuthorizeHook(t *testing.T) {
	e := newEnv(t, nil)
	opts := &dashboard.Options{Authorize: func(r *http.Request) bool { return r.Header.Get("X-Role") == "admin" }}
	r := request("GET", "/", local)
	if w := serve(t, e, opts, r); w.Code != 403 {
		t.Errorf("hook refuses, even from loopback: %d; want 403", w.Code)
	}
	r = request("GET", "/", remote)
	r.Header.Set("X-Role", "admin")
	if w := serve(t, e, opts, r); w.Code != 200 {
		t.Errorf("hook accepts: %d; want 200", w.Code)
	}
	// The hook guards the actions too.
	id := e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{RunAt: farFuture})
	r = request("POST", fmt.Sprintf("/jobs/%d/cancel", id), remote)
	if w := serve(t, e, opts, r); w.Code != 403 {
		t.Errorf("POST refused by hook: %d; want 403", w.Code)
	}
	e.wantState(t, id, kiln.JobStateScheduled)
}

func TestReadOnly(t *testing.T) {
	e := newEnv(t, nil)
	id := e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{RunAt: farFuture})
	if _, err := e.client.RecurringAddOrUpdate(context.Background(), kiln.RecurringJob{ID: "r1", Schedule: "@hourly", Args: okArgs{}}); err != nil {
		t.Fatal(err)
	}
	opts := &dashboard.Options{ReadOnly: true}
	for _, p := range []string{"/", fmt.Sprintf("/jobs/%d", id), "/jobs", "/recurring", "/queues"} {
		w := serve(t, e, opts, request("GET", p, local))
		if w.Code != 200 {
			t.Fatalf("GET %s: %d", p, w.Code)
		}
		body := w.Body.String()
		if strings.Contains(body, `method="post"`) || !strings.Contains(body, "read-only") {
			t.Errorf("GET %s in read-only mode shows a form or lacks the badge", p)
		}
	}
	r := request("POST", fmt.Sprintf("/jobs/%d/cancel", id), local)
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if w := serve(t, e, opts, r); w.Code != 403 {
		t.Errorf("POST in read-only mode: %d; want 403", w.Code)
	}
	e.wantState(t, id, kiln.JobStateScheduled)
}

func TestCSRFRejectsCrossOriginPost(t *testing.T) {
	e := newEnv(t, nil)
	id := e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{RunAt: farFuture})
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"foreign origin", map[string]string{"Origin": "https://evil.example"}, 403},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, 303},
	} {
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/jobs/%d/cancel", e.base, id), nil)
		for k, v := range tc.headers {
			req.Header.Set(k, v)
		}
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d; want %d", tc.name, resp.StatusCode, tc.want)
		}
		if tc.want == 403 {
			e.wantState(t, id, kiln.JobStateScheduled)
		}
	}
}

// TestEscaping checks that what users entered is shown as text on every
// page that shows it: args, tags, errors, recurring IDs, queue names.
func TestEscaping(t *testing.T) {
	e := newEnv(t, nil)
	const evil = `<script>alert("x")</script>`
	id := e.enqueue(t, okArgs{Text: evil}, &kiln.EnqueueOpts{Queue: "<b>q</b>", Tags: []string{"<img src=x onerror=alert(1)>"}, RunAt: farFuture})
	if _, err := e.client.RecurringAddOrUpdate(context.Background(), kiln.RecurringJob{ID: evil, Schedule: "@hourly", Args: okArgs{Text: evil}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/", "/jobs", fmt.Sprintf("/jobs/%d", id), "/recurring", "/queues", "/jobs?kind=" + evil} {
		_, body := e.get(t, p)
		for _, raw := range []string{"<script>alert", "<img src=x", "<b>q</b>"} {
			if strings.Contains(body, raw) {
				t.Errorf("GET %s: raw %q in page", p, raw)
			}
		}
	}
	_, body := e.get(t, fmt.Sprintf("/jobs/%d", id))
	if !strings.Contains(body, `&lt;script&gt;alert(\&#34;x\&#34;)&lt;/script&gt;`) {
		t.Errorf("job page does not show the args as escaped text")
	}
}

// TestSecurityHeaders checks the headers every page gets.
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, nil)
	w := serve(t, e, nil, request("GET", "/", local))
	for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
		if got := w.Header().Get(k); got != want {
			t.Errorf("%s: %q; want %q", k, got, want)
		}
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q lets other scripts run", csp)
	}
}

// TestAPIMounted checks that the JSON API is served under /api/ behind the
// same security: bearer token, read-only mode and CSRF, with JSON errors.
func TestAPIMounted(t *testing.T) {
	e := newEnv(t, &dashboard.Options{Prefix: "/kiln"})
	if status, body := e.get(t, "/api/stats"); status != 200 || !strings.Contains(body, `"states"`) {
		t.Fatalf("GET /kiln/api/stats: %d %s", status, body)
	}
	id := e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{RunAt: farFuture})
	cancelPath := fmt.Sprintf("/kiln/api/jobs/%d/cancel", id)
	for _, tc := range []struct {
		name   string
		opts   *dashboard.Options
		header map[string]string
		want   int
	}{
		{"no token", &dashboard.Options{Prefix: "/kiln", BearerToken: "t0k"}, nil, 401},
		{"read-only", &dashboard.Options{Prefix: "/kiln", BearerToken: "t0k", ReadOnly: true}, map[string]string{"Authorization": "Bearer t0k"}, 403},
		{"cross-site", &dashboard.Options{Prefix: "/kiln", BearerToken: "t0k"}, map[string]string{"Authorization": "Bearer t0k", "Sec-Fetch-Site": "cross-site"}, 403},
	} {
		r := request("POST", cancelPath, remote)
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		w := serve(t, e, tc.opts, r)
		if w.Code != tc.want || w.Header().Get("Content-Type") != "application/json" || !strings.Contains(w.Body.String(), `"error"`) {
			t.Errorf("%s: %d %q %s; want %d with a JSON error", tc.name, w.Code, w.Header().Get("Content-Type"), w.Body, tc.want)
		}
	}
	e.wantState(t, id, kiln.JobStateScheduled)
	// A script with the token, as other services call the API.
	r := request("POST", cancelPath, remote)
	r.Header.Set("Authorization", "Bearer t0k")
	if w := serve(t, e, &dashboard.Options{Prefix: "/kiln", BearerToken: "t0k"}, r); w.Code != 200 {
		t.Errorf("cancel with the token: %d %s", w.Code, w.Body)
	}
	if w := serve(t, e, &dashboard.Options{DisableAPI: true}, request("GET", "/api/stats", local)); w.Code != 404 {
		t.Errorf("DisableAPI: %d; want 404", w.Code)
	}
}

// TestMetricsMounted checks that Options.Metrics is served at /metrics,
// behind the authorization.
func TestMetricsMounted(t *testing.T) {
	e := newEnv(t, nil)
	m := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "kiln_up 1") })
	if w := serve(t, e, &dashboard.Options{Metrics: m}, request("GET", "/metrics", local)); w.Code != 200 || !strings.Contains(w.Body.String(), "kiln_up 1") {
		t.Errorf("GET /metrics: %d %s", w.Code, w.Body)
	}
	if w := serve(t, e, &dashboard.Options{Metrics: m}, request("GET", "/metrics", remote)); w.Code != 403 {
		t.Errorf("GET /metrics from a remote address: %d; want 403", w.Code)
	}
	if w := serve(t, e, nil, request("GET", "/metrics", local)); w.Code != 404 {
		t.Errorf("GET /metrics without Metrics: %d; want 404", w.Code)
	}
}

// TestStaticServesFilesOnly checks that /static/ serves the embedded files
// but no directory listing, with and without a trailing slash, at the root
// and under a prefix (redirects followed).
func TestStaticServesFilesOnly(t *testing.T) {
	for _, prefix := range []string{"", "/kiln"} {
		e := newEnv(t, &dashboard.Options{Prefix: prefix})
		for _, p := range []string{"/static/", "/static", "/static/vendor/", "/static/vendor", "/static/vendor/htmx/", "/static/./vendor/htmx/", "/static/vendor/../"} {
			resp, err := http.Get(e.base + p)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "kiln.css") || strings.Contains(body, "htmx.min.js") || strings.Contains(body, "vendor/") {
				t.Errorf("GET %s%s: %d; want 404 and no listing:\n%s", prefix, p, resp.StatusCode, body)
			}
		}
		for _, p := range []string{"/static/kiln.css", "/static/vendor/htmx/htmx.min.js"} {
			if status, body := e.get(t, p); status != http.StatusOK || body == "" {
				t.Errorf("GET %s%s: %d; want 200 with the file", prefix, p, status)
			}
		}
	}
}

// rebound sends method path (with a JSON body unless empty) to e's server
// as a browser does for a page of host whose DNS was pointed at 127.0.0.1
// (DNS rebinding): from loopback, with Host, Origin and Sec-Fetch-Site of
// that page's own origin. It returns the status and body.
func rebound(t *testing.T, e *env, host, method, path, body string, header map[string]string) (int, string) {
	t.Helper()
	port := e.srv.URL[strings.LastIndex(e.srv.URL, ":")+1:]
	req, err := http.NewRequest(method, e.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host + ":" + port
	req.Header.Set("Origin", "http://"+req.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, readAll(t, resp)
}

// TestHostAllowlistStopsDNSRebinding checks that without authentication
// the dashboard and its API answer only to loopback host names and
// Options.AllowedHosts: a rebound page (Host evil.example, same-origin
// headers) can neither read jobs' args nor enqueue.
func TestHostAllowlistStopsDNSRebinding(t *testing.T) {
	e := newEnv(t, &dashboard.Options{AllowedHosts: []string{"Kiln.Internal."}})
	id := e.enqueue(t, okArgs{Text: "secret-arg"}, &kiln.EnqueueOpts{RunAt: farFuture})
	for _, p := range []string{"/api/jobs", fmt.Sprintf("/api/jobs/%d", id), "/jobs", fmt.Sprintf("/jobs/%d", id), "/"} {
		status, body := rebound(t, e, "evil.example", "GET", p, "", nil)
		if status != http.StatusForbidden || strings.Contains(body, "secret-arg") || !strings.Contains(body, "AllowedHosts") {
			t.Errorf("rebound GET %s: %d; want 403 naming AllowedHosts, without the args:\n%s", p, status, body)
		}
	}
	if status, body := rebound(t, e, "evil.example", "POST", "/api/jobs", `{"kind":"test.ok","args":{"text":"from evil"}}`, nil); status != http.StatusForbidden ||
		!strings.Contains(body, `"error"`) {
		t.Errorf("rebound POST /api/jobs: %d %s; want 403 with a JSON error", status, body)
	}
	if status, body := rebound(t, e, "evil.example", "POST", fmt.Sprintf("/jobs/%d/cancel", id), "", nil); status != http.StatusForbidden {
		t.Errorf("rebound POST /jobs/%d/cancel: %d %s; want 403", id, status, body)
	}
	e.wantState(t, id, kiln.JobStateScheduled)
	if jobs, err := e.client.JobList(context.Background(), nil); err != nil || len(jobs.Jobs) != 1 {
		t.Fatalf("jobs after the rebound requests: %v, %v; want only the first", jobs, err)
	}

	// The names of this machine's loopback interface, and the allowed one.
	for _, host := range []string{"localhost", "LOCALHOST", "localhost.", "127.0.0.1", "127.0.0.2", "[::1]", "kiln.internal"} {
		if status, body := rebound(t, e, host, "GET", "/api/jobs", "", nil); status != http.StatusOK || !strings.Contains(body, "secret-arg") {
			t.Errorf("GET /api/jobs with Host %s: %d; want 200\n%s", host, status, body)
		}
	}
	// Authentication replaces the Host check: a rebound page has no
	// credentials, and a client with them may use any name.
	e2 := newEnv(t, &dashboard.Options{BearerToken: "t0k"})
	if status, _ := rebound(t, e2, "evil.example", "GET", "/api/jobs", "", nil); status != http.StatusUnauthorized {
		t.Errorf("rebound GET /api/jobs with a token configured: %d; want 401", status)
	}
	if status, _ := rebound(t, e2, "kiln.example.com", "GET", "/api/jobs", "", map[string]string{"Authorization": "Bearer t0k"}); status != http.StatusOK {
		t.Errorf("GET /api/jobs with the token and another Host: %d; want 200", status)
	}

	for _, bad := range []string{"", "kiln.internal:8080", "[::1]:80", "a b", "user@host"} {
		if _, err := dashboard.New(e.client, &dashboard.Options{AllowedHosts: []string{bad}}); err == nil || !strings.Contains(err.Error(), "AllowedHosts") {
			t.Errorf("AllowedHosts %q: error %v; want one naming AllowedHosts", bad, err)
		}
	}
}

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip (127.0.0.0/8 is all loopback on Linux), so that
// one test can be several clients.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// TestAuthFailuresLimited checks that a client that guesses passwords or
// tokens is slowed down: after 10 wrong tries at once its requests with
// credentials get 429 with Retry-After, the right ones too (or the answer
// would tell the right password), while other clients and requests with
// the right credentials before are not held back.
func TestAuthFailuresLimited(t *testing.T) {
	e := newEnv(t, &dashboard.Options{BasicAuth: &dashboard.BasicAuth{User: "ops", Password: "s3cret"}, BearerToken: "t0k"})
	send := func(c *http.Client, path string, auth func(*http.Request)) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, e.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		auth(req)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		resp.Body.Close()
		return resp
	}
	right := func(r *http.Request) { r.SetBasicAuth("ops", "s3cret") }
	guess := func(i int) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth("ops", fmt.Sprintf("guess-%d", i)) }
	}
	attacker := clientFrom("127.0.0.2")
	// Right credentials do not use up the allowance.
	for range 30 {
		if resp := send(attacker, "/", right); resp.StatusCode != http.StatusOK {
			t.Fatalf("right credentials: %d", resp.StatusCode)
		}
	}
	for i := range 10 {
		if resp := send(attacker, "/api/jobs", guess(i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d; want 401", i+1, resp.StatusCode)
		}
	}
	for i, auth := range []func(*http.Request){
		guess(10),
		func(r *http.Request) { r.Header.Set("Authorization", "Bearer guess") },
		right,
	} {
		resp := send(attacker, "/api/jobs", auth)
		retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || err != nil || retry < 1 || retry > 10 {
			t.Errorf("try %d after 10 wrong: %d, Retry-After %q; want 429 with 1 to 10 s", i+1, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	// Another client is not held back, and its own guesses count apart;
	// requests without credentials are not tries.
	other := clientFrom("127.0.0.3")
	if resp := send(other, "/api/jobs", func(*http.Request) {}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("another client without credentials: %d; want 401", resp.StatusCode)
	}
	if resp := send(other, "/api/jobs", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("another client's first wrong token: %d; want 401", resp.StatusCode)
	}
	if resp := send(other, "/api/jobs", func(r *http.Request) { r.Header.Set("Authorization", "Bearer t0k") }); resp.StatusCode != http.StatusOK {
		t.Errorf("another client with the token: %d; want 200", resp.StatusCode)
	}
}

// TestAuthFailuresConcurrent checks that guesses sent all at once cannot
// pass the limit together: of 50 concurrent wrong passwords from one
// client, at most 10 are checked.
func TestAuthFailuresConcurrent(t *testing.T) {
	e := newEnv(t, &dashboard.Options{BasicAuth: &dashboard.BasicAuth{User: "ops", Password: "s3cret"}})
	c := clientFrom("127.0.0.4")
	codes := make(chan int, 50)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, e.base+"/api/jobs", nil)
			req.SetBasicAuth("ops", fmt.Sprintf("guess-%d", i))
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for code := range codes {
		count[code]++
	}
	if count[http.StatusUnauthorized] > 10 || count[http.StatusUnauthorized]+count[http.StatusTooManyRequests] != 50 {
		t.Errorf("50 concurrent wrong passwords: %v; want at most 10 checked (401), the rest 429", count)
	}
}
