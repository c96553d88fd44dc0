package dashboard_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
)

// postDirect serves a same-origin form POST to path straight from e's
// handler, so that a Location no client would parse still reaches the test.
func (e *env) postDirect(path string, form map[string][]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(encodeForm(form)))
	req.RemoteAddr = "127.0.0.1:1234" // the dashboard serves loopback only by default
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", e.srv.URL)
	rec := httptest.NewRecorder()
	e.srv.Config.Handler.ServeHTTP(rec, req)
	return rec
}

// TestBackPathHostile posts hostile "back" fields to every POST route that
// redirects to its form's back field, and checks that the redirect goes to
// the route's own fallback page: a browser that drops TAB, CR and LF from
// the Location and reads "\" as "/" must still see no host.
func TestBackPathHostile(t *testing.T) {
	e := newEnv(t, nil)
	routes := []struct {
		path     string
		form     map[string][]string
		fallback string
	}{
		{"/jobs/12345/cancel", nil, "/jobs/12345"},
		{"/jobs/bulk", map[string][]string{"action": {"cancel"}, "id": {"12345"}}, "/jobs"},
		{"/limits/rate", map[string][]string{"kind": {"nosuch"}, "limit": {"x"}}, "/limits"},
		{"/limits/rate/delete", map[string][]string{"kind": {"nosuch"}}, "/limits"},
		{"/retention", map[string][]string{"state": {"completed"}, "keep": {"x"}}, "/queues"},
		{"/retention/delete", map[string][]string{"state": {"completed"}, "kind": {"nosuch"}}, "/queues"},
		{"/queues/default/resume", nil, "/queues"},
		{"/recurring/nosuch/pause", nil, "/recurring"},
	}
	hostile := []string{
		"", "\t", "/\t/evil.example/x", "/%09/evil.example/x", "//evil.example/x", "/\\evil.example/x",
		"/%5Cevil.example/x", "/%2F/evil.example/x", "https://evil.example/x", "javascript:alert(1)",
		"/\x00/evil.example/x", "/\r\n/evil.example/x", "/\n/evil.example/x", "/\u0085/evil.example/x",
		"/\xff/evil.example/x", "\t//evil.example/x", "evil.example/x", "///evil.example/x",
	}
	for _, rt := range routes {
		for _, back := range hostile {
			form := map[string][]string{"back": {back}}
			for k, v := range rt.form {
				form[k] = v
			}
			resp := e.postDirect(rt.path, form)
			loc := resp.Header().Get("Location")
			if resp.Code != 303 || loc != rt.fallback {
				t.Errorf("POST %s back=%q: %d to %q, want 303 to %q", rt.path, back, resp.Code, loc, rt.fallback)
			}
			browser := strings.NewReplacer("\t", "", "\r", "", "\n", "", "\\", "/").Replace(loc)
			if u, err := url.Parse(browser); err != nil || u.Host != "" || u.Scheme != "" {
				t.Errorf("POST %s back=%q: Location %q leaves the dashboard (%v)", rt.path, back, loc, err)
			}
		}
		// A dashboard path with a query is kept.
		form := map[string][]string{"back": {"/jobs?state=scheduled&kind=a%20b"}}
		for k, v := range rt.form {
			form[k] = v
		}
		if loc := e.postDirect(rt.path, form).Header().Get("Location"); loc != "/jobs?state=scheduled&kind=a%20b" {
			t.Errorf("POST %s back=/jobs?state=scheduled&kind=a%%20b: redirected to %q", rt.path, loc)
		}
	}
}

// TestBackPathEscapedID checks that a page whose path holds escaped
// characters (a recurring ID with "%", "?", "#" and a space) sends a back
// field and a live-update URL that name that page again: action forms
// come back to it, not to the list, and the poll reaches it.
func TestBackPathEscapedID(t *testing.T) {
	e := newEnv(t, nil)
	const id = "50% off?#a b"
	if _, err := e.client.RecurringAddOrUpdate(context.Background(), kiln.RecurringJob{ID: id, Schedule: "0 3 * * *", Args: okArgs{}}); err != nil {
		t.Fatal(err)
	}
	page := "/recurring/" + url.PathEscape(id)
	code, body := e.get(t, page)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", page, code)
	}
	m := regexp.MustCompile(`name="back" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET %s: no back field in the page", page)
	}
	back := html.UnescapeString(m[1])
	if back != page {
		t.Errorf("back field %q, want %q", back, page)
	}
	resp := e.post(t, page+"/pause", map[string][]string{"back": {back}})
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != page {
		t.Errorf("POST %s/pause: %d to %q, want 303 to %q", page, resp.StatusCode, loc, page)
	}
	live := regexp.MustCompile(`hx-get="([^"]*partial=live)"`).FindStringSubmatch(body)
	if live == nil {
		t.Fatalf("GET %s: no live-update URL in the page", page)
	}
	liveURL := html.UnescapeString(live[1])
	if want := page + "?partial=live"; !strings.HasSuffix(liveURL, want) {
		t.Errorf("live-update URL %q, want it to end in %q", liveURL, want)
	}
	resp, err := noRedirects.Get(e.srv.URL + liveURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %d", liveURL, resp.StatusCode)
	}
}
