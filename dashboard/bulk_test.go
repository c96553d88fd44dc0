package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
	"github.com/kilnjobs/kiln/internal/testutil"
)

// TestBulkAllMatching cancels every scheduled job of one kind from the
// Jobs page's "all matching" offer: the offer, its confirmation page with
// the count, the operation's progress page until it completes, and a
// cancel of an operation that ended.
func TestBulkAllMatching(t *testing.T) {
	e := newEnv(t, nil)
	var ids []int64
	for range 5 {
		ids = append(ids, e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{RunAt: farFuture}))
	}
	other := e.enqueue(t, failOnceArgs{}, &kiln.EnqueueOpts{RunAt: farFuture})

	status, body := e.get(t, "/jobs?state=scheduled&kind=test.ok")
	if status != http.StatusOK || !strings.Contains(body, `id="bulk-all"`) ||
		!strings.Contains(body, `/bulk/new?action=cancel&amp;kind=test.ok&amp;state=scheduled`) {
		t.Fatalf("jobs page without the bulk offer (%d):\n%s", status, body)
	}
	// Counted from the counters when the filter is a state only.
	if _, body := e.get(t, "/jobs?state=scheduled"); !strings.Contains(body, `<strong id="bulk-all-count">6</strong>`) {
		t.Errorf("state filter: the offer does not count 6 jobs:\n%s", body)
	}
	status, body = e.get(t, "/bulk/new?action=cancel&kind=test.ok&state=scheduled")
	if status != http.StatusOK || !strings.Contains(body, `<strong>5</strong> jobs match now.`) ||
		!strings.Contains(body, `every scheduled job of kind &#34;test.ok&#34;`) || !strings.Contains(body, "Yes, cancel 5 jobs") {
		t.Fatalf("confirmation page (%d):\n%s", status, body)
	}
	resp := e.post(t, "/bulk", map[string][]string{"action": {"cancel"}, "kind": {"test.ok"}, "state": {"scheduled"}})
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/bulk/") {
		t.Fatalf("POST /bulk: %d to %q", resp.StatusCode, loc)
	}
	testutil.EventuallyNil(t, "the progress page to show the operation completed", func() error {
		status, body = e.get(t, loc)
		// The operation's own state, not the list of latest operations
		// below it, which the page reads after it and so may show the
		// operation completed while the panel above still shows it running.
		if status != http.StatusOK || !strings.Contains(body, `<dd id="bulk-state"><span class="state bulk-completed">completed</span>`) {
			return fmt.Errorf("status %d:\n%s", status, body)
		}
		return nil
	})
	for _, want := range []string{`<dd id="bulk-changed">5</dd>`, `id="bulk-percent">100%`, "Latest bulk operations", "every scheduled job of kind"} {
		if !strings.Contains(body, want) {
			t.Errorf("progress page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "hx-trigger") || strings.Contains(body, "http-equiv") {
		t.Error("a completed operation's page still refreshes")
	}
	for _, id := range ids {
		e.wantState(t, id, kiln.JobStateCancelled)
	}
	e.wantState(t, other, kiln.JobStateScheduled)
	_, live := e.get(t, loc+"?partial=live")
	if strings.Contains(live, "<html") || !strings.Contains(live, `id="bulk-state"`) {
		t.Errorf("live block:\n%s", live)
	}
	if resp := e.post(t, loc+"/cancel", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("cancel of a completed operation: %d", resp.StatusCode)
	}
	if resp := e.post(t, loc+"/resume", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("resume of a completed operation: %d", resp.StatusCode)
	}
	if status, _ := e.get(t, "/bulk/new?action=explode"); status != http.StatusBadRequest {
		t.Errorf("unknown action: %d", status)
	}
	if status, _ := e.get(t, "/bulk/999999"); status != http.StatusNotFound {
		t.Errorf("unknown operation: %d", status)
	}
	// A move without a queue is refused back to the jobs.
	resp = e.post(t, "/bulk", map[string][]string{"action": {"move"}, "kind": {"test.ok"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/jobs?kind=test.ok" {
		t.Errorf("move without a queue: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestBulkReadOnly: a read-only dashboard offers no bulk action and
// refuses one.
func TestBulkReadOnly(t *testing.T) {
	e := newEnv(t, &dashboard.Options{ReadOnly: true})
	e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{RunAt: farFuture})
	if _, body := e.get(t, "/jobs"); strings.Contains(body, "bulk-all") {
		t.Error("read-only jobs page offers bulk actions")
	}
	if resp := e.post(t, "/bulk", map[string][]string{"action": {"delete"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("read-only POST /bulk: %d", resp.StatusCode)
	}
	if _, err := e.client.JobBulkList(context.Background(), 0, 0); err != nil {
		t.Fatal(err)
	}
}
