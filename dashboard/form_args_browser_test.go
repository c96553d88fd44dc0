package dashboard_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserArgsForm drives the per-kind new-job form in chromium:
// choosing a kind shows its args as inputs; a typo in the JSON is refused
// in the browser (and by the server when the script is bypassed), each
// time naming the field; an out-of-bounds input is refused next to it;
// the job is created from the typed inputs. With
// KILN_DASHBOARD_SCREENSHOT=1 it writes docs/img/dashboard-form.png.
func TestBrowserArgsForm(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t, nil)
	jobs := func() int {
		res, err := e.client.JobList(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Jobs)
	}

	b.run(t, "choose the kind",
		chromedp.Navigate(e.base+"/jobs/new"),
		chromedp.WaitVisible(chromedp.CSS("#f-kind")),
		chromedp.Evaluate[chromedp.Void](`(() => { const k = document.getElementById("f-kind"); k.value = "test.ship"; k.dispatchEvent(new Event("change", {bubbles: true})); })()`),
		chromedp.WaitVisible(chromedp.CSS(`[data-arg="to"]`)),
	)
	hidden := value(t, b, "look at the JSON textarea", chromedp.Evaluate[bool](`document.getElementById("f-args").closest("[data-args-section]").hidden`))
	if !hidden {
		b.fail(t, "the JSON textarea shows beside the inputs")
	}
	if help := value(t, b, "read the hints", chromedp.Text(chromedp.CSS(".args-fields"))); !strings.Contains(help, "Where the parcel goes") || !strings.Contains(help, "1 to 50") {
		b.fail(t, "the inputs lack their descriptions: %q", help)
	}

	t.Run("a typo in the JSON is refused in the browser", func(t *testing.T) {
		b.run(t, "switch to JSON, type a typo and submit",
			chromedp.Click(chromedp.CSS(`input[name="args_mode"][value="json"]`)),
			chromedp.WaitVisible(chromedp.CSS("#f-args")),
			chromedp.SetValue(chromedp.CSS("#f-args"), `{"to": "Berlin", "wieght": 3}`),
			chromedp.Click(chromedp.CSS(`.job-form button.primary`)),
			chromedp.WaitVisible(chromedp.CSS(`#f-args ~ .field-error`)),
		)
		msg := value(t, b, "read the error", chromedp.Text(chromedp.CSS(`#f-args ~ .field-error`)))
		if !strings.Contains(msg, `unknown field "wieght"`) || !strings.Contains(msg, `"weight"`) {
			b.fail(t, "error %q; want the unknown field and the kind's fields", msg)
		}
		if url := value(t, b, "read the URL", chromedp.Location()); !strings.HasSuffix(url, "/jobs/new") || jobs() != 0 {
			b.fail(t, "the form was sent: at %s, %d jobs", url, jobs())
		}
	})

	t.Run("the server refuses the typo too", func(t *testing.T) {
		b.run(t, "send the form without its script",
			chromedp.Evaluate[chromedp.Void](`document.querySelector(".job-form").submit()`),
			chromedp.WaitVisible(chromedp.CSS(".error-summary")),
		)
		msg := value(t, b, "read the error", chromedp.Text(chromedp.CSS(`#f-args ~ .field-error`)))
		if !strings.Contains(msg, `args.wieght: unknown field "wieght"`) || jobs() != 0 {
			b.fail(t, "error %q, %d jobs", msg, jobs())
		}
	})

	t.Run("a job from the typed fields", func(t *testing.T) {
		b.run(t, "back to the fields with valid JSON",
			chromedp.SetValue(chromedp.CSS("#f-args"), `{"to": "Berlin", "weight": 99}`),
			chromedp.Click(chromedp.CSS(`input[name="args_mode"][value="fields"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-arg="weight"]`)),
		)
		if to := value(t, b, "read the input", chromedp.Value(chromedp.CSS(`[data-arg="to"]`))); to != "Berlin" {
			b.fail(t, "the inputs did not take the JSON: to %q", to)
		}
		b.run(t, "submit a weight out of bounds",
			chromedp.Click(chromedp.CSS(`.job-form button.primary`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-arg="weight"] ~ .field-error`)),
		)
		if msg := value(t, b, "read the error", chromedp.Text(chromedp.CSS(`[data-arg="weight"] ~ .field-error`))); !strings.Contains(msg, "maximum") {
			b.fail(t, "weight error %q", msg)
		}
		if os.Getenv(envScreenshot) == "1" {
			png := value(t, b, "screenshot the form", chromedp.FullScreenshot(100))
			path := filepath.Join("..", "docs", "img", "dashboard-form.png")
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d bytes)", path, len(png))
		}
		b.run(t, "fix the weight, choose fast and fragile, and submit",
			chromedp.SetValue(chromedp.CSS(`[data-arg="weight"]`), "3"),
			chromedp.SetValue(chromedp.CSS(`[data-arg="speed"]`), "fast"),
			chromedp.Click(chromedp.CSS(`[data-arg="fragile"]`)),
			chromedp.SetValue(chromedp.CSS(`[data-arg="items"]`), `["lamp"]`),
			chromedp.Click(chromedp.CSS(`.job-form button.primary`)),
			chromedp.WaitVisible(chromedp.CSS("#job-state")),
		)
		b.waitText(t, ".flash", "enqueued")
		res, err := e.client.JobList(context.Background(), nil)
		if err != nil || len(res.Jobs) != 1 {
			b.fail(t, "jobs %v, %v", res, err)
		}
		var got shipArgs
		if err := json.Unmarshal(res.Jobs[0].Args, &got); err != nil || got.To != "Berlin" || got.Weight != 3 || got.Speed != "fast" || !got.Fragile || len(got.Items) != 1 {
			b.fail(t, "job args %s (%v)", res.Jobs[0].Args, err)
		}
	})
}
