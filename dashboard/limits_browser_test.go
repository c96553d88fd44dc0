package dashboard_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserLimits drives chromium as an operator: from the navigation
// to the Limits page, sets a kind's rate limit with the form and sees it
// listed with its budget, sets a per-key limit of the same kind with the
// form's checkbox and sees it listed beside it, then removes both with
// their rows' buttons (after the confirmation) and sees them gone.
func TestBrowserLimits(t *testing.T) {
	e := newEnv(t, nil)
	b := newBrowser(t)
	b.run(t, "open the Limits page from the navigation",
		chromedp.Navigate(e.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(".cards")),
		chromedp.Click(chromedp.CSS(`nav a[href="/limits"]`)),
		chromedp.WaitVisible(chromedp.CSS("form.rate-limit-form")),
	)
	b.waitText(t, "#live", "No kind has a rate limit")
	b.run(t, "fill in and submit the form",
		chromedp.SendKeys(chromedp.CSS(`form.rate-limit-form input[name="kind"]`), "test.ok"),
		chromedp.SendKeys(chromedp.CSS(`form.rate-limit-form input[name="limit"]`), "10"),
		chromedp.SendKeys(chromedp.CSS(`form.rate-limit-form input[name="period"]`), "1m"),
		chromedp.SetValue(chromedp.CSS(`form.rate-limit-form input[name="burst"]`), "2"),
		chromedp.Click(chromedp.CSS(`form.rate-limit-form button[type="submit"]`)),
	)
	b.waitText(t, ".flash", "Rate limit of test.ok set to 10 per 1m0s, burst 2")
	b.waitText(t, `tr[data-kind="test.ok"][data-per-key="false"] .rate-limit`, "10 per 1m0s, burst 2")
	b.waitText(t, `tr[data-kind="test.ok"][data-per-key="false"] .rate-used`, "0 of 3")
	b.waitText(t, `tr[data-kind="test.ok"][data-per-key="false"] .rate-next`, "now")
	b.waitText(t, `tr[data-kind="test.ok"][data-per-key="false"] .rate-source`, "run time")
	st, err := e.client.RateLimitGet(context.Background(), "test.ok", false)
	if err != nil || st.Override == nil || st.Override.Limit != 10 {
		t.Fatalf("stored limit %+v, %v", st, err)
	}

	b.run(t, "set a per-key limit with the checkbox",
		chromedp.SendKeys(chromedp.CSS(`form.rate-limit-form input[name="kind"]`), "test.ok"),
		chromedp.SendKeys(chromedp.CSS(`form.rate-limit-form input[name="limit"]`), "1"),
		chromedp.SendKeys(chromedp.CSS(`form.rate-limit-form input[name="period"]`), "1m"),
		chromedp.Click(chromedp.CSS(`form.rate-limit-form input[name="per_key"]`)),
		chromedp.Click(chromedp.CSS(`form.rate-limit-form button[type="submit"]`)),
	)
	b.waitText(t, ".flash", "Rate limit of test.ok (per partition key) set to 1 per 1m0s")
	b.waitText(t, `tr[data-kind="test.ok"][data-per-key="true"] .rate-scope`, "per key")
	b.waitText(t, `tr[data-kind="test.ok"][data-per-key="true"] .rate-limit`, "1 per 1m0s")
	b.waitText(t, `tr[data-kind="test.ok"][data-per-key="false"] .rate-limit`, "10 per 1m0s, burst 2")
	if st, err := e.client.RateLimitGet(context.Background(), "test.ok", true); err != nil || st.Override == nil || st.Override.Limit != 1 {
		t.Fatalf("stored per-key limit %+v, %v", st, err)
	}

	if !value(t, b, "accept the confirmation to come", chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)) {
		b.fail(t, "window.confirm not replaced")
	}
	b.click(t, "remove the per-key limit", `tr[data-kind="test.ok"][data-per-key="true"] form[action$="/limits/rate/delete"] button`)
	b.waitText(t, ".flash", "Rate limit of test.ok (per partition key) removed")
	b.waitText(t, `tr[data-kind="test.ok"][data-per-key="false"] .rate-limit`, "10 per 1m0s, burst 2")
	if !value(t, b, "accept the next confirmation", chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)) {
		b.fail(t, "window.confirm not replaced")
	}
	b.click(t, "remove the kind's", `tr[data-kind="test.ok"][data-per-key="false"] form[action$="/limits/rate/delete"] button`)
	b.waitText(t, ".flash", "Rate limit of test.ok removed")
	b.waitText(t, "#live", "No kind has a rate limit")
}
