package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/testutil"
)

// envScreenshot, set to 1, makes TestScreenshot write the screenshots used
// in docs/dashboard.md:
//
//	KILN_DASHBOARD_SCREENSHOT=1 go test -run TestScreenshot ./dashboard/
const envScreenshot = "KILN_DASHBOARD_SCREENSHOT"

// TestScreenshot takes the screenshots of docs/dashboard.md: the overview
// while jobs flow, and a job's page. It runs only on demand.
func TestScreenshot(t *testing.T) {
	if os.Getenv(envScreenshot) != "1" {
		t.Skipf("set %s=1 to take the documentation's screenshots", envScreenshot)
	}
	b := newBrowser(t)
	e := newEnv(t, nil)
	ctx := context.Background()
	for i, def := range []kiln.RecurringJob{
		{ID: "reports.nightly", Schedule: "0 3 * * *", TimeZone: "Europe/Berlin", Args: okArgs{Text: "nightly report"}},
		{ID: "cache.refresh", Schedule: "@every 10m", Args: okArgs{Text: "refresh"}},
	} {
		if _, err := e.client.RecurringAddOrUpdate(ctx, def); err != nil {
			t.Fatalf("recurring %d: %v", i, err)
		}
	}
	var failed int64
	for i := range 3 {
		failed = e.enqueue(t, failOnceArgs{}, &kiln.EnqueueOpts{MaxAttempts: 1, Tags: []string{"import"}})
		e.enqueue(t, okArgs{Text: fmt.Sprintf("later %d", i)}, &kiln.EnqueueOpts{Queue: "other", RunIn: time.Hour})
	}
	e.waitState(t, failed, kiln.JobStateDiscarded)

	// A steady flow of jobs while the overview's live graph fills in; the
	// feeder stops before the test ends.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
				var args kiln.JobArgs = okArgs{Text: fmt.Sprintf("order %d", n)}
				if n%7 == 0 {
					args = failOnceArgs{}
				}
				if _, err := e.client.Enqueue(ctx, args, nil); err != nil {
					t.Errorf("feeder: %v", err)
					return
				}
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()

	b.run(t, "load the overview", chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS(".cards")))
	// Let the live graph collect about 50 s of samples.
	b.waitText(t, "#live figcaption", "peak")
	testutil.Poll{Timeout: 70 * time.Second, Interval: 500 * time.Millisecond}.Eventually(t, "25 bars in the live graph", func() bool {
		return value(t, b, "count bars", chromedp.Evaluate[int](`document.querySelectorAll("#live svg g").length`)) >= 25
	})
	// Load the page again, so that its history (read once a minute)
	// holds the jobs run meanwhile; the live samples are the server's.
	b.run(t, "reload the overview", chromedp.Navigate(e.base+"/"), chromedp.WaitVisible(chromedp.CSS(".cards")))
	dir := filepath.Join("..", "docs", "img")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	save := func(name string) {
		png := value(t, b, "screenshot "+name, chromedp.FullScreenshot(100))
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(png))
	}
	save("dashboard.png")
	b.run(t, "open a discarded job", chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", e.base, failed)), chromedp.WaitVisible(chromedp.CSS("#job-state")))
	save("dashboard-job.png")

	// A phone in dark mode.
	ctx5, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx5, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
	}); err != nil {
		t.Fatalf("emulate dark mode: %v", err)
	}
	b.run(t, "load the overview on a phone",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(e.base+"/"),
		chromedp.WaitVisible(chromedp.CSS(".cards")),
	)
	save("dashboard-phone-dark.png")
}
