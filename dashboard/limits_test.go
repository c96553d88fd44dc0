package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
)

// TestLimitsPage sets and removes a rate limit from the Limits page, which
// lists it with its budget, and a per-key one of the same kind beside it; refused input changes nothing and says why in
// the flash; the changes are recorded in the audit log under the
// dashboard's actor.
func TestLimitsPage(t *testing.T) {
	e := newEnv(t, nil)
	set := func(form map[string][]string) {
		t.Helper()
		if resp := e.post(t, "/limits/rate", form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /limits/rate %v: %d", form, resp.StatusCode)
		}
	}
	set(map[string][]string{"kind": {"test.ok"}, "limit": {"10"}, "period": {"1m"}, "burst": {"2"}})
	st, err := e.client.RateLimitGet(context.Background(), "test.ok", false)
	if err != nil {
		t.Fatal(err)
	}
	if want := (kiln.RateLimit{Limit: 10, Period: time.Minute, Burst: 2}); st.Override == nil || *st.Override != want {
		t.Fatalf("stored limit %+v, want %v", st, want)
	}
	code, body := e.get(t, "/limits")
	if code != http.StatusOK || !strings.Contains(body, `data-kind="test.ok"`) || !strings.Contains(body, "10 per 1m0s, burst 2") ||
		!strings.Contains(body, "0 of 3") || !strings.Contains(body, `action="/limits/rate/delete"`) {
		t.Fatalf("Limits page (%d) lacks the limit or its forms:\n%s", code, body)
	}
	if _, body := e.get(t, "/limits?partial=live"); strings.Contains(body, "<html") || !strings.Contains(body, "10 per 1m0s, burst 2") {
		t.Fatalf("live part:\n%s", body)
	}

	for _, form := range []map[string][]string{
		{"kind": {"test.ok"}, "limit": {"0"}, "period": {"1m"}},
		{"kind": {"test.ok"}, "limit": {"-5"}, "period": {"1m"}},
		{"kind": {"test.ok"}, "limit": {"1073741825"}, "period": {"1m"}},
		{"kind": {"test.ok"}, "limit": {"99999999999999999999"}, "period": {"1m"}},
		{"kind": {"test.ok"}, "limit": {"ten"}, "period": {"1m"}},
		{"kind": {"test.ok"}, "limit": {"1"}, "period": {"soon"}},
		{"kind": {"test.ok"}, "limit": {"1"}, "period": {"8785h"}},
		{"kind": {"test.ok"}, "limit": {"1"}, "period": {"-1s"}},
		{"kind": {"test.ok"}, "limit": {"1"}, "period": {"1m"}, "burst": {"-1"}},
		{"kind": {""}, "limit": {"1"}, "period": {"1m"}},
		{"kind": {"bad\xff"}, "limit": {"1"}, "period": {"1m"}},
		{"kind": {strings.Repeat("k", 256)}, "limit": {"1"}, "period": {"1m"}},
	} {
		set(form)
	}
	if st, _ := e.client.RateLimitGet(context.Background(), "test.ok", false); st.Limit.Limit != 10 {
		t.Fatalf("a refused form changed the limit: %+v", st)
	}
	// The flash of a refusal says why.
	resp := e.post(t, "/limits/rate", map[string][]string{"kind": {"test.ok"}, "limit": {"0"}, "period": {"1m"}})
	req, _ := http.NewRequest("GET", e.base+"/limits", nil)
	for _, c := range resp.Cookies() {
		req.AddCookie(c)
	}
	r2, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b := readAll(t, r2); !strings.Contains(b, "0 sets no limit") {
		t.Fatalf("no flash for a limit of 0:\n%s", b)
	}
	r2.Body.Close()

	// A per-key limit of the same kind, beside the kind's own; removing it
	// leaves the kind's.
	set(map[string][]string{"kind": {"test.ok"}, "limit": {"1"}, "period": {"1m"}, "per_key": {"on"}})
	st, err = e.client.RateLimitGet(context.Background(), "test.ok", true)
	if err != nil {
		t.Fatal(err)
	}
	if want := (kiln.RateLimit{Limit: 1, Period: time.Minute}); st.Override == nil || *st.Override != want {
		t.Fatalf("stored per-key limit %+v, want %v", st, want)
	}
	if st, _ := e.client.RateLimitGet(context.Background(), "test.ok", false); st.Limit.Limit != 10 {
		t.Fatalf("the per-key form changed the kind's limit: %+v", st)
	}
	code, body = e.get(t, "/limits")
	if code != http.StatusOK || !strings.Contains(body, `data-kind="test.ok" data-per-key="false"`) ||
		!strings.Contains(body, `data-kind="test.ok" data-per-key="true"`) || !strings.Contains(body, "per key</td>") ||
		!strings.Contains(body, `name="per_key" value="true"`) || !strings.Contains(body, "1 per 1m0s</td>") {
		t.Fatalf("Limits page (%d) lacks the per-key limit or its form:\n%s", code, body)
	}
	if resp := e.post(t, "/limits/rate/delete", map[string][]string{"kind": {"test.ok"}, "per_key": {"true"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete per key: %d", resp.StatusCode)
	}
	if st, _ := e.client.RateLimitGet(context.Background(), "test.ok", true); st.Override != nil {
		t.Fatalf("per-key limit not removed: %+v", st)
	}
	if _, body := e.get(t, "/limits"); strings.Contains(body, `data-per-key="true"`) || !strings.Contains(body, `data-kind="test.ok"`) {
		t.Fatalf("after removing the per-key limit:\n%s", body)
	}

	if resp := e.post(t, "/limits/rate/delete", map[string][]string{"kind": {"test.ok"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if _, body := e.get(t, "/limits"); strings.Contains(body, `data-kind="test.ok"`) {
		t.Fatal("removed limit still shown")
	}
	if resp := e.post(t, "/limits/rate/delete", map[string][]string{"kind": {"test.ok"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second delete: %d", resp.StatusCode)
	}
	entries, err := e.client.AuditList(context.Background(), &kiln.AuditListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, fmt.Sprintf("%s %s %s per key %v", en.Action, en.Target, en.Actor,
			strings.Contains(string(en.Detail), `"per_key":true`)))
	}
	want := []string{kiln.AuditRateLimitRemove + " test.ok local per key false", kiln.AuditRateLimitRemove + " test.ok local per key true",
		kiln.AuditRateLimitSet + " test.ok local per key true", kiln.AuditRateLimitSet + " test.ok local per key false"}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Fatalf("audit entries %v, want %v", actions, want)
	}
}

// TestLimitsPageConcurrency: the Limits page lists the concurrency limits
// this process's workers declare, with their use (this process's running
// jobs of MaxConcurrency, every process's of ClusterMaxConcurrency, the
// busiest keys, those at their limit marked), read only: no form for
// them, in the page or its live part; a process without limits says so.
func TestLimitsPageConcurrency(t *testing.T) {
	t.Parallel()
	if _, body := newEnv(t, nil).get(t, "/limits"); !strings.Contains(body, "No kind has a concurrency limit") {
		t.Fatalf("Limits page of a process without concurrency limits:\n%s", body)
	}

	client, started := clienttest.StartHeld(t, clienttest.OpenStore(t), nil)
	h, err := dashboard.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e := &env{client: client, srv: srv, base: srv.URL}
	// Keys b and a start (MaxConcurrency 2); a's second job waits.
	for _, key := range []string{"b", "a", "a"} {
		e.enqueue(t, clienttest.HeldArgs{}, &kiln.EnqueueOpts{Partition: key})
	}
	for range 2 {
		testutil.Receive(t, started, "2 held jobs to start", nil)
	}
	for _, path := range []string{"/limits", "/limits?partial=live"} {
		code, body := e.get(t, path)
		row := body[strings.Index(body, `<table class="concurrency-limits">`)+1:]
		row = row[:strings.Index(row, "</table>")]
		flat := strings.Join(strings.Fields(row), " ")
		for _, want := range []string{`data-kind="held"`, `<td class="num conc-running">2</td>`,
			`<td class="conc-process at-limit">2 of 2</td>`, `<td class="conc-cluster">2 of 3</td>`,
			`<td class="conc-key">1 per key, 2 keys running</td>`,
			`<span class="at-limit">a 1</span>, <span class="at-limit">b 1</span>`} {
			if code != http.StatusOK || !strings.Contains(flat, want) {
				t.Fatalf("GET %s (%d): the concurrency limits lack %s:\n%s", path, code, want, row)
			}
		}
		if strings.Contains(row, "<form") {
			t.Fatalf("GET %s: the concurrency limits have a form:\n%s", path, row)
		}
	}
}
