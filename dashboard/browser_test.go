package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/testutil"
)

// chromiumPath is where Debian's chromium package puts the browser; .ci/run
// installs it when it is missing.
const chromiumPath = "/usr/bin/chromium"

// browser is a headless chromium tab driven by chromedp.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// newBrowser starts a headless chromium with a fresh profile, closed when
// the test ends. Without chromium the test is skipped, or fails in CI
// (CI=true), where it must run.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: CI must run the browser tests (apt-get install chromium)", chromiumPath)
		}
		t.Skipf("%s is missing: skipping the browser tests (apt-get install chromium to run them)", chromiumPath)
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so that a broken install fails here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// run runs actions with a 30 s deadline; on failure it saves a screenshot
// and fails the test.
func (b *browser) run(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(t, "%s: %v", what, err)
	}
}

// value runs one action that returns a value, with a 30 s deadline; on
// failure it saves a screenshot and fails the test.
func value[T any](t *testing.T, b *browser, what string, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	// A page that refreshes itself (the bulk operation's progress) may
	// replace the node between the query and the read: read it again, as
	// long as the deadline allows (TestBrowserBulkRetry failed so at load
	// 28: "No node with given id found").
	for nodeGone(err) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
			v, err = chromedp.Run(ctx, action)
		}
	}
	if err != nil {
		b.fail(t, "%s: %v", what, err)
	}
	return v
}

// nodeGone reports whether err is chromium's answer to an action on a node
// that a page's refresh replaced between the query and the action.
func nodeGone(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "No node with given id") ||
		strings.Contains(err.Error(), "Could not find node with given id"))
}

// click clicks the element sel, with a 30 s deadline. In a block that
// refreshes itself (htmx's "every 2s"), the node found may be replaced
// before the click reaches it: chromium then refuses the node before any
// mouse event is sent, and the click is tried again on the new node
// (TestBrowserLimits failed so beside a CPU hog: "Could not find node
// with given id").
func (b *browser) click(t *testing.T, what, sel string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel)))
	for nodeGone(err) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
			err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel)))
		}
	}
	if err != nil {
		b.fail(t, "%s: %v", what, err)
	}
}

// fail saves a screenshot of the page to testdata/failures/<test>.png and
// fails the test with the message.
func (b *browser) fail(t *testing.T, format string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + ".png"
	path, _ := filepath.Abs(filepath.Join("testdata", "failures", name))
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Logf("screenshot failed: %v", err)
	} else if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("save screenshot: %v", err)
	} else {
		t.Logf("screenshot of the page: %s", path)
	}
	t.Fatalf(format, args...)
}

// waitText polls the text of the element sel until it contains want (the
// pages refresh themselves through htmx); a failure comes with a
// screenshot.
func (b *browser) waitText(t *testing.T, sel, want string) {
	t.Helper()
	b.waitTextWithin(t, sel, want, 0)
}

// waitTextWithin is waitText with a deadline of its own (0: Poll's
// default), for what takes longer on a loaded machine than a page's
// refresh: a bulk operation of thousands of jobs under -race, beside
// other test packages.
func (b *browser) waitTextWithin(t *testing.T, sel, want string, timeout time.Duration) {
	t.Helper()
	testutil.Poll{Timeout: timeout, Interval: 100 * time.Millisecond}.EventuallyNil(screenshotT{t, b}, fmt.Sprintf("the text of %s to contain %q", sel, want), func() error {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil || !strings.Contains(text, want) {
			return fmt.Errorf("text %q (%v)", text, err)
		}
		return nil
	})
}

// waitURL waits until the page's address contains want: after a click that
// loads another page, the elements of the page before it are still there
// until the new one replaces them, so waiting for an element alone can read
// the old page.
func (b *browser) waitURL(t *testing.T, want string) {
	t.Helper()
	testutil.Poll{Interval: 50 * time.Millisecond}.EventuallyNil(screenshotT{t, b}, fmt.Sprintf("the address to contain %q", want), func() error {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		if url, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.Contains(url, want) {
			return fmt.Errorf("address %q (%v)", url, err)
		}
		return nil
	})
}

// screenshotT is t whose Fatalf fails through b.fail, with a screenshot.
type screenshotT struct {
	*testing.T
	b *browser
}

func (s screenshotT) Fatalf(format string, args ...any) {
	s.T.Helper()
	s.b.fail(s.T, format, args...)
}

// TestBrowser drives the dashboard in headless chromium as an operator
// would: it clicks the real buttons and reads what the pages show.
func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t, nil)
	done := e.enqueue(t, okArgs{Text: "first"}, nil)
	e.waitState(t, done, kiln.JobStateCompleted)

	t.Run("overview", func(t *testing.T) {
		b.run(t, "load the overview",
			chromedp.Navigate(e.base+"/"),
			chromedp.WaitVisible(chromedp.CSS(".cards")),
		)
		title := value(t, b, "read the title", chromedp.Title())
		if !strings.Contains(title, "Overview") {
			b.fail(t, "title %q", title)
		}
		b.waitText(t, ".state-card.state-completed .count", "1")
		// The live block is replaced by htmx polls: a job completed after
		// the page loaded shows up without a reload.
		e.waitState(t, e.enqueue(t, okArgs{Text: "second"}, nil), kiln.JobStateCompleted)
		b.waitText(t, ".state-card.state-completed .count", "2")
	})

	t.Run("retry a discarded job", func(t *testing.T) {
		id := e.enqueue(t, failOnceArgs{}, &kiln.EnqueueOpts{MaxAttempts: 1})
		e.waitState(t, id, kiln.JobStateDiscarded)
		b.run(t, "open the discarded job from the list",
			chromedp.Navigate(e.base+"/jobs?state=discarded"),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/jobs/%d"]`, id))),
			chromedp.WaitVisible(chromedp.CSS("#job-state")),
		)
		b.waitText(t, "#job-state", "discarded")
		b.waitText(t, "#live", "boom")
		b.run(t, "click retry", chromedp.Click(chromedp.CSS(`form[action$="/retry"] button`)))
		b.waitText(t, ".flash", "will run again")
		b.waitText(t, "#job-state", "completed")
		e.waitState(t, id, kiln.JobStateCompleted)
	})

	t.Run("create a recurring job with the form", func(t *testing.T) {
		b.run(t, "submit a bad schedule",
			chromedp.Navigate(e.base+"/recurring/new"),
			chromedp.WaitVisible(chromedp.CSS("#f-id")),
			chromedp.SetValue(chromedp.CSS("#f-id"), "browser.every-second"),
			chromedp.SetValue(chromedp.CSS("#f-kind"), "test.ok"),
			// test.ok's args have a schema: its inputs replace the args
			// block (htmx); this test types the args as JSON.
			chromedp.WaitVisible(chromedp.CSS(`[data-arg="text"]`)),
			chromedp.Click(chromedp.CSS(`input[name="args_mode"][value="json"]`)),
			chromedp.WaitVisible(chromedp.CSS("#f-args")),
			chromedp.SetValue(chromedp.CSS("#f-args"), `{"text": "from the form"}`),
			chromedp.SetValue(chromedp.CSS("#f-schedule"), "every second please"),
			chromedp.Click(chromedp.CSS(`.job-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(".field-error")),
		)
		errText := value(t, b, "read the field error", chromedp.Text(chromedp.CSS(`#f-schedule ~ .field-error`)))
		if errText == "" {
			b.fail(t, "no error next to the schedule field")
		}
		b.run(t, "fix the schedule and save",
			chromedp.SetValue(chromedp.CSS("#f-schedule"), "@every 1s"),
			chromedp.Click(chromedp.CSS(`.job-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(".flash")),
		)
		b.waitText(t, ".flash", `"browser.every-second" saved`)
		// The entry fires: its last run shows on the page, and its job runs.
		b.waitText(t, `[id="recurring-browser.every-second"]`, "completed")
		row, err := e.client.RecurringGet(context.Background(), "browser.every-second")
		if err != nil || row.LastJobID == 0 {
			b.fail(t, "entry %+v, %v: no job enqueued", row, err)
		}
	})

	t.Run("pause a queue", func(t *testing.T) {
		b.run(t, "open the queues",
			chromedp.Navigate(e.base+"/queues"),
			chromedp.WaitVisible(chromedp.CSS("#queue-other")),
		)
		b.click(t, "click pause", `#queue-other form[action$="/pause"] button`)
		b.waitText(t, "#queue-other .queue-state", "paused")
		qs, err := e.client.QueueList(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Name == "other" && !q.Paused {
				b.fail(t, "queue other is not paused in the store")
			}
		}
	})

	t.Run("script in args is text", func(t *testing.T) {
		const script = `<script>window.kilnXSS = 1</script>`
		id := e.enqueue(t, okArgs{Text: script}, &kiln.EnqueueOpts{RunAt: farFuture, Tags: []string{`<img src=x onerror="window.kilnXSS=2">`}})
		for _, path := range []string{fmt.Sprintf("/jobs/%d", id), "/jobs?state=scheduled"} {
			b.run(t, "load "+path, chromedp.Navigate(e.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
			text := value(t, b, "read the page", chromedp.Text(chromedp.CSS("main")))
			injected := value(t, b, "look for injected elements",
				chromedp.Evaluate[bool](`window.kilnXSS !== undefined || document.querySelectorAll("main script, main img").length > 0`))
			if injected {
				b.fail(t, "%s: the script or image in the args ran or became an element", path)
			}
			if !strings.Contains(text, script) {
				b.fail(t, "%s: the args are not shown as text: %q", path, text)
			}
		}
	})
}

// TestBrowserLayout measures the laid-out pages in chromium at a laptop's
// and a small tablet's width: table cells that break out of their rows,
// lines that wrap where they should not, a card left alone on a row.
func TestBrowserLayout(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, def := range []kiln.RecurringJob{
		{ID: "reports.nightly", Schedule: "0 3 * * *", TimeZone: "Europe/Berlin", Args: okArgs{Text: "nightly report"}},
		{ID: "cache.refresh-every-ten-seconds", Schedule: "@every 10s", Args: okArgs{Text: "refresh"}},
	} {
		if _, err := e.client.RecurringAddOrUpdate(ctx, def); err != nil {
			t.Fatal(err)
		}
	}
	// A last run to show: its job, state and time take room in the row.
	job, err := e.client.RecurringTrigger(ctx, "reports.nightly")
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(t, job.ID, kiln.JobStateCompleted)
	running := e.enqueue(t, reportArgs{}, nil)
	e.waitState(t, running, kiln.JobStateRunning)
	completed := e.enqueue(t, okArgs{Text: "done"}, nil)
	e.waitState(t, completed, kiln.JobStateCompleted)

	for _, width := range []int64{1280, 900} {
		t.Run(fmt.Sprintf("recurring at %dpx", width), func(t *testing.T) {
			b.run(t, "load the recurring page",
				chromedp.EmulateViewport(width, 900),
				chromedp.Navigate(e.base+"/recurring"),
				chromedp.WaitVisible(chromedp.CSS("table.recurring")),
			)
			// Every cell spans its row's full height, and holds its
			// buttons; each next run stays on one line.
			problems := value(t, b, "measure the recurring table", chromedp.Evaluate[[]string](`(() => {
				const out = [];
				const wrap = document.querySelector("table.recurring").closest(".table-wrap");
				if (wrap.scrollWidth > wrap.clientWidth + 1) {
					out.push("the table is " + wrap.scrollWidth + "px wide, its box " + wrap.clientWidth + "px: it scrolls sideways");
				}
				for (const tr of document.querySelectorAll("table.recurring tbody tr")) {
					const row = tr.getBoundingClientRect();
					tr.querySelectorAll(":scope > td").forEach((td, i) => {
						const r = td.getBoundingClientRect();
						if (Math.abs(r.top - row.top) > 1 || Math.abs(r.bottom - row.bottom) > 1) {
							out.push(tr.id + ": cell " + i + " spans " + r.top + "-" + r.bottom + ", its row " + row.top + "-" + row.bottom);
						}
						for (const btn of td.querySelectorAll("button, a.button")) {
							const br = btn.getBoundingClientRect();
							if (br.left < r.left - 1 || br.right > r.right + 1 || br.top < r.top - 1 || br.bottom > r.bottom + 1) {
								out.push(tr.id + ": button " + btn.textContent.trim() + " sticks out of its cell");
							}
						}
					});
					for (const li of tr.querySelectorAll("ul.plain li")) {
						const lh = parseFloat(getComputedStyle(li).lineHeight);
						if (li.getBoundingClientRect().height > 1.5 * lh) {
							out.push(tr.id + ": next run " + JSON.stringify(li.textContent) + " wraps");
						}
					}
				}
				return out;
			})()`))
			if len(problems) > 0 {
				b.fail(t, "recurring table at %dpx:\n%s", width, strings.Join(problems, "\n"))
			}
		})
		for name, id := range map[string]int64{"running": running, "completed": completed} {
			t.Run(fmt.Sprintf("%s job at %dpx", name, width), func(t *testing.T) {
				b.run(t, "load the job page",
					chromedp.EmulateViewport(width, 900),
					chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", e.base, id)),
					chromedp.WaitVisible(chromedp.CSS(".facts")),
				)
				// The cards' rows, by their tops: none holds a card alone
				// while another row holds several.
				rows := value(t, b, "measure the cards", chromedp.Evaluate[[]int](`(() => {
					const rows = new Map();
					for (const c of document.querySelectorAll(".facts > div")) {
						const top = Math.round(c.getBoundingClientRect().top);
						rows.set(top, (rows.get(top) || 0) + 1);
					}
					return [...rows.keys()].sort((a, b) => a - b).map(k => rows.get(k));
				})()`))
				for _, n := range rows {
					if n == 1 && len(rows) > 1 {
						b.fail(t, "cards per row %v: one card wraps alone", rows)
					}
				}
			})
		}
	}
}
