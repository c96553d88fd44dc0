package dashboard_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
)

// TestLimitsPage sets and removes a rate limit from the Limits page, which
// lists it with its budget; refused input changes nothing and says why in
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
		actions = append(actions, en.Action+" "+en.Target+" "+en.Actor)
	}
	want := []string{kiln.AuditRateLimitRemove + " test.ok local", kiln.AuditRateLimitSet + " test.ok local"}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Fatalf("audit entries %v, want %v", actions, want)
	}
}
