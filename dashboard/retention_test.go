package dashboard_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
)

// TestRetentionOnQueuesPage sets and deletes a retention rule from the
// Queues page, which lists the rules in effect.
func TestRetentionOnQueuesPage(t *testing.T) {
	e := newEnv(t, nil)
	resp := e.post(t, "/retention", map[string][]string{"state": {"completed"}, "kind": {"email"}, "keep": {"1h"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("set: %d", resp.StatusCode)
	}
	rules, err := e.client.RetentionList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rules {
		if r.Kind == "email" && r.State == kiln.JobStateCompleted && r.Keep.String() == "1h0m0s" && r.Source == "database" {
			found = true
		}
	}
	if !found {
		t.Fatalf("rule not stored: %+v", rules)
	}
	code, body := e.get(t, "/queues")
	if code != http.StatusOK || !strings.Contains(body, "<td>email</td>") || !strings.Contains(body, "Set rule") ||
		!strings.Contains(body, `action="/retention/delete"`) {
		t.Fatalf("Queues page (%d) lacks the rule or its forms:\n%s", code, body)
	}
	if resp := e.post(t, "/retention", map[string][]string{"state": {"completed"}, "keep": {"soon"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("bad keep: %d", resp.StatusCode)
	}
	resp = e.post(t, "/retention/delete", map[string][]string{"state": {"completed"}, "kind": {"email"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if _, body := e.get(t, "/queues"); strings.Contains(body, "<td>email</td>") {
		t.Fatal("deleted rule still shown")
	}
}
