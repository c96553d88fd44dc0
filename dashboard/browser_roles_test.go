package dashboard_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/kilnjobs/kiln"
)

// TestBrowserRoles drives chromium as an operator, who retries a job and
// pauses a queue and then sees both on the Audit page, and as a viewer,
// who sees no action button on any page and whose forged same-origin
// POSTs (to a page action and to the API) get 403 and are recorded as
// refused. With KILN_DASHBOARD_SCREENSHOT set it saves the Audit page to
// docs/img/dashboard-audit.png.
func TestBrowserRoles(t *testing.T) {
	opts := roleOpts()
	opts.Prefix = ""
	e := newEnv(t, opts)
	withCreds := func(user, pass string) string {
		return strings.Replace(e.srv.URL, "http://", "http://"+user+":"+pass+"@", 1)
	}
	discarded := e.enqueue(t, failOnceArgs{}, &kiln.EnqueueOpts{MaxAttempts: 1})
	e.waitState(t, discarded, kiln.JobStateDiscarded)
	scheduled := e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{RunAt: farFuture, Queue: "other"})

	t.Run("operator", func(t *testing.T) {
		b := newBrowser(t)
		b.run(t, "log in as the operator and open the discarded job",
			chromedp.Navigate(withCreds("olga", "op-pw")+fmt.Sprintf("/jobs/%d", discarded)),
			chromedp.WaitVisible(chromedp.CSS("#job-state")),
		)
		b.run(t, "click retry", chromedp.Click(chromedp.CSS(`form[action$="/retry"] button`)))
		b.waitText(t, ".flash", "will run again")
		e.waitState(t, discarded, kiln.JobStateCompleted)
		b.run(t, "open the queues",
			chromedp.Navigate(e.srv.URL+"/queues"),
			chromedp.WaitVisible(chromedp.CSS("#queue-other")),
		)
		b.click(t, "pause queue other", `#queue-other form[action$="/pause"] button`)
		b.waitText(t, "#queue-other .queue-state", "paused")
		b.run(t, "open the audit log from the navigation",
			chromedp.Click(chromedp.CSS(`nav a[href="/audit"]`)),
			chromedp.WaitVisible(chromedp.CSS("table.audit")),
		)
		text := value(t, b, "read the audit log", chromedp.Text(chromedp.CSS("table.audit tbody")))
		for _, want := range []string{"olga", "queue.pause", "other", "job.retry", fmt.Sprint(discarded), "127.0.0.1"} {
			if !strings.Contains(text, want) {
				b.fail(t, "the audit page lacks %q:\n%s", want, text)
			}
		}
		b.run(t, "filter the audit log by action",
			chromedp.SetValue(chromedp.CSS(`form.filters input[name="action"]`), "job.retry"),
			chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)),
		)
		b.waitURL(t, "action=job.retry") // the filtered page, not the one before it
		b.run(t, "wait for the filtered audit log", chromedp.WaitVisible(chromedp.CSS("table.audit")))
		text = value(t, b, "read the filtered audit log", chromedp.Text(chromedp.CSS("table.audit tbody")))
		if !strings.Contains(text, "job.retry") || strings.Contains(text, "queue.pause") {
			b.fail(t, "the log filtered by job.retry:\n%s", text)
		}
	})

	t.Run("viewer", func(t *testing.T) {
		b := newBrowser(t)
		b.run(t, "log in as the viewer",
			chromedp.Navigate(withCreds("vic", "view-pw")+"/"),
			chromedp.WaitVisible(chromedp.CSS(".cards")),
		)
		for _, path := range []string{fmt.Sprintf("/jobs/%d", scheduled), "/jobs?state=scheduled", "/queues", "/recurring", "/limits"} {
			b.run(t, "load "+path, chromedp.Navigate(e.srv.URL+path), chromedp.WaitVisible(chromedp.CSS("main")))
			n := value(t, b, "count the action forms and buttons of "+path, chromedp.Evaluate[int](
				`document.querySelectorAll('main form[method="post"], main button[type="submit"][name="action"], main a.button').length`))
			if n != 0 {
				b.fail(t, "%s shows the viewer %d action forms or buttons", path, n)
			}
			if badge := value(t, b, "read the header", chromedp.Text(chromedp.CSS("header.top"))); !strings.Contains(badge, "read-only") {
				b.fail(t, "%s: no read-only badge in %q", path, badge)
			}
		}
		// Forged POSTs from the dashboard's own page: they pass the
		// cross-origin check (same origin) and carry the viewer's
		// credentials, and the role refuses them.
		for _, c := range []struct{ path, body, ctype string }{
			{fmt.Sprintf("/jobs/%d/cancel", scheduled), "back=/", "application/x-www-form-urlencoded"},
			{fmt.Sprintf("/api/jobs/%d/cancel", scheduled), "", "application/json"},
			{"/jobs/new", "kind=test.ok&args=%7B%7D", "application/x-www-form-urlencoded"},
		} {
			status := value(t, b, "forge a POST to "+c.path, chromedp.Evaluate[int](fmt.Sprintf(`(() => {
				const x = new XMLHttpRequest();
				x.open("POST", %q, false);
				x.setRequestHeader("Content-Type", %q);
				x.send(%q);
				return x.status;
			})()`, c.path, c.ctype, c.body)))
			if status != 403 {
				b.fail(t, "forged POST %s as a viewer: %d, want 403", c.path, status)
			}
		}
		e.wantState(t, scheduled, kiln.JobStateScheduled)
		b.run(t, "open the viewer's audit entries",
			chromedp.Navigate(e.srv.URL+"/audit?actor=vic"),
			chromedp.WaitVisible(chromedp.CSS("table.audit")),
		)
		text := value(t, b, "read the audit log", chromedp.Text(chromedp.CSS("table.audit tbody")))
		if strings.Count(text, "request.refused") != 3 || !strings.Contains(text, fmt.Sprintf("/jobs/%d/cancel", scheduled)) {
			b.fail(t, "the viewer's refusals in the audit log:\n%s", text)
		}
		// docs/img/dashboard-audit.png: the whole log, as the viewer sees it.
		if os.Getenv("KILN_DASHBOARD_SCREENSHOT") != "" {
			b.run(t, "open the whole audit log", chromedp.Navigate(e.srv.URL+"/audit"), chromedp.WaitVisible(chromedp.CSS("table.audit")))
			png := value(t, b, "screenshot the audit log", chromedp.FullScreenshot(100))
			path := filepath.Join("..", "docs", "img", "dashboard-audit.png")
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", path, len(png))
		}
	})
}
