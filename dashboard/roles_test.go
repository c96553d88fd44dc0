package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
)

// roleOpts has an operator and a viewer, as users and as tokens.
func roleOpts() *dashboard.Options {
	return &dashboard.Options{
		Prefix: "/kiln",
		Users: []dashboard.User{{Name: "olga", Password: "op-pw"},
			{Name: "vic", Password: "view-pw", Role: dashboard.RoleViewer}},
		Tokens: []dashboard.Token{{Name: "deploy-bot", Secret: "op-tok"},
			{Name: "grafana", Secret: "view-tok", Role: dashboard.RoleViewer}},
	}
}

// TestViewerRole checks that a viewer sees the pages without action
// buttons and gets 403 on every state change, pages and API, that each
// refusal is recorded, and that an operator's actions are recorded under
// its name.
func TestViewerRole(t *testing.T) {
	e := newEnv(t, nil)
	opts := roleOpts()
	id := e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{RunAt: farFuture})
	do := func(method, path, user, pass, token string) *http.Response {
		t.Helper()
		r := request(method, path, remote)
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		if method != "GET" && !strings.Contains(path, "/api/") { // the API takes JSON, or no body
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return serve(t, e, opts, r).Result()
	}
	body := func(resp *http.Response) string {
		t.Helper()
		return readAll(t, resp)
	}

	// Pages: the viewer sees the job but no button.
	jobPath := fmt.Sprintf("/kiln/jobs/%d", id)
	if resp := do("GET", jobPath, "vic", "view-pw", ""); resp.StatusCode != 200 {
		t.Fatalf("viewer GET job: %d", resp.StatusCode)
	} else if b := body(resp); strings.Contains(b, `method="post"`) || !strings.Contains(b, "read-only") {
		t.Errorf("viewer's job page has a form or lacks the read-only badge:\n%s", b)
	}
	if b := body(do("GET", jobPath, "olga", "op-pw", "")); !strings.Contains(b, `method="post"`) {
		t.Errorf("operator's job page has no action form")
	}
	for _, path := range []string{"/kiln/jobs", "/kiln/queues", "/kiln/recurring", "/kiln/limits"} {
		if b := body(do("GET", path, "", "", "view-tok")); strings.Contains(b, `method="post"`) {
			t.Errorf("viewer's %s has a form", path)
		}
	}

	// State changes: 403 for the viewer, pages and API alike.
	for _, c := range []struct{ method, path string }{
		{"POST", jobPath + "/cancel"},
		{"POST", jobPath + "/delete"},
		{"POST", "/kiln/jobs/bulk"},
		{"POST", "/kiln/queues/default/pause"},
		{"POST", "/kiln/retention"},
		{"POST", "/kiln/limits/rate"},
		{"POST", "/kiln/limits/rate/delete"},
		{"PUT", "/kiln/api/rate-limits/test.ok"},
		{"DELETE", "/kiln/api/rate-limits/test.ok"},
		{"POST", fmt.Sprintf("/kiln/api/jobs/%d/cancel", id)},
		{"DELETE", fmt.Sprintf("/kiln/api/jobs/%d", id)},
		{"PUT", "/kiln/api/retention"},
		{"POST", "/kiln/api/jobs"},
	} {
		if resp := do(c.method, c.path, "vic", "view-pw", ""); resp.StatusCode != 403 {
			t.Errorf("viewer %s %s: %d, want 403", c.method, c.path, resp.StatusCode)
		}
		if resp := do(c.method, c.path, "", "", "view-tok"); resp.StatusCode != 403 {
			t.Errorf("viewer token %s %s: %d, want 403", c.method, c.path, resp.StatusCode)
		}
	}
	e.wantState(t, id, kiln.JobStateScheduled)

	// The operator cancels, by token through the API and by password on the page.
	if resp := do("POST", fmt.Sprintf("/kiln/api/jobs/%d/cancel", id), "", "", "op-tok"); resp.StatusCode != 200 {
		t.Fatalf("operator token cancel: %d %s", resp.StatusCode, body(resp))
	}
	if resp := do("POST", "/kiln/queues/default/pause", "olga", "op-pw", ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("operator pause: %d %s", resp.StatusCode, body(resp))
	}

	// The audit log has both, and the refusals.
	entries, err := e.client.AuditList(context.Background(), &kiln.AuditListParams{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var refusedVic, refusedGrafana int
	var cancelled, paused bool
	for _, en := range entries {
		switch {
		case en.Refused && en.Actor == "vic" && en.Role == "viewer":
			refusedVic++
		case en.Refused && en.Actor == "grafana":
			refusedGrafana++
		case en.Action == kiln.AuditJobCancel && en.Actor == "deploy-bot" && en.Target == fmt.Sprint(id) && en.Addr == "203.0.113.7":
			cancelled = true
		case en.Action == kiln.AuditQueuePause && en.Actor == "olga" && en.Target == "default":
			paused = true
		}
	}
	if refusedVic != 13 || refusedGrafana != 13 || !cancelled || !paused {
		t.Errorf("audit: %d refusals of vic, %d of grafana (want 13 each: one per refused request), cancel recorded %v, pause recorded %v", refusedVic, refusedGrafana, cancelled, paused)
	}

	// The audit page and API, for the viewer too.
	if resp := do("GET", "/kiln/audit?actor=olga", "vic", "view-pw", ""); resp.StatusCode != 200 {
		t.Errorf("viewer GET /audit: %d", resp.StatusCode)
	} else if b := body(resp); !strings.Contains(b, "<code>queue.pause</code>") || strings.Contains(b, "<code>job.cancel</code>") {
		t.Errorf("audit page filtered by olga:\n%s", b)
	}
	resp := do("GET", "/kiln/api/audit?action=job.cancel", "", "", "view-tok")
	var page struct {
		Entries []kiln.AuditEntry `json:"entries"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 || len(page.Entries) != 1 ||
		page.Entries[0].Actor != "deploy-bot" {
		t.Errorf("GET /api/audit?action=job.cancel: %d %+v %v", resp.StatusCode, page, err)
	}
	if resp := do("GET", "/kiln/api/audit?since=yesterday", "", "", "view-tok"); resp.StatusCode != 400 {
		t.Errorf("GET /api/audit with a bad since: %d, want 400", resp.StatusCode)
	}
	if resp := do("GET", "/kiln/audit?since=yesterday", "", "", "view-tok"); resp.StatusCode != 400 {
		t.Errorf("GET /audit with a bad since: %d, want 400", resp.StatusCode)
	}
}

// TestRolesOptions checks New's refusals of malformed users and tokens,
// the Identify hook, and the client address behind a trusted proxy.
func TestRolesOptions(t *testing.T) {
	e := newEnv(t, nil)
	for _, o := range []*dashboard.Options{
		{Users: []dashboard.User{{Name: "a"}}},
		{Users: []dashboard.User{{Name: "a", Password: "b", Role: "admin"}}},
		{Tokens: []dashboard.Token{{Secret: "x"}}},
		{Tokens: []dashboard.Token{{Name: "x", Secret: "y", Role: "root"}}},
	} {
		if _, err := dashboard.New(e.client, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	// Authorize + Identify: a header names the user; viewers are refused.
	opts := &dashboard.Options{
		Authorize: func(r *http.Request) bool { return r.Header.Get("X-User") != "" },
		Identify: func(r *http.Request) dashboard.Identity {
			if r.Header.Get("X-User") == "auditor" {
				return dashboard.Identity{Name: "auditor", Role: dashboard.RoleViewer}
			}
			return dashboard.Identity{Name: r.Header.Get("X-User")}
		},
		TrustProxy: true,
	}
	post := func(user string) int {
		r := request("POST", "/queues/other/pause", remote)
		r.Header.Set("X-User", user)
		r.Header.Set("X-Forwarded-For", "198.51.100.1, 198.51.100.2")
		return serve(t, e, opts, r).Code
	}
	if code := post("auditor"); code != 403 {
		t.Errorf("viewer by Identify: %d, want 403", code)
	}
	if code := post("ann"); code != http.StatusSeeOther {
		t.Errorf("operator by Identify: %d, want 303", code)
	}
	entries, err := e.client.AuditList(context.Background(), nil)
	if err != nil || len(entries) != 2 {
		t.Fatalf("audit: %+v, %v", entries, err)
	}
	if en := entries[0]; en.Actor != "ann" || en.Action != kiln.AuditQueuePause || en.Addr != "198.51.100.2" {
		t.Errorf("operator's entry %+v, want ann from 198.51.100.2 (the proxy's X-Forwarded-For entry)", en)
	}
	if en := entries[1]; en.Actor != "auditor" || !en.Refused || en.Action != kiln.AuditRequestRefused {
		t.Errorf("viewer's entry %+v", en)
	}
	// Unauthenticated local requests are "local" operators.
	r := request("POST", "/queues/other/resume", local)
	r.Header.Set("X-Forwarded-For", "198.51.100.9")
	if w := serve(t, e, nil, r); w.Code != http.StatusSeeOther {
		t.Fatalf("local resume: %d", w.Code)
	}
	entries, _ = e.client.AuditList(context.Background(), &kiln.AuditListParams{Action: kiln.AuditQueueResume})
	if len(entries) != 1 || entries[0].Actor != "local" || entries[0].Addr != "127.0.0.1" {
		t.Errorf("local resume entry %+v, want local from 127.0.0.1 (X-Forwarded-For not trusted)", entries)
	}
}
