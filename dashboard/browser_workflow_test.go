package dashboard_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/kilnjobs/kiln"
)

// TestBrowserWorkflow opens, with JavaScript disabled, the workflow graph
// of a continuation chain (a completed -> b discarded -> c cancelled) from
// b's job page, reads each node's state in the SVG, and follows a node's
// link to c's graph.
func TestBrowserWorkflow(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t, nil)
	a := e.enqueue(t, okArgs{Text: "a"}, nil)
	mid := e.enqueue(t, failOnceArgs{}, &kiln.EnqueueOpts{Parents: []int64{a}, MaxAttempts: 1})
	last := e.enqueue(t, okArgs{Text: "c"}, &kiln.EnqueueOpts{Parents: []int64{mid}})
	e.waitState(t, a, kiln.JobStateCompleted)
	e.waitState(t, mid, kiln.JobStateDiscarded)
	e.waitState(t, last, kiln.JobStateCancelled)

	node := func(id int64) string { return fmt.Sprintf(`#workflow-graph g[data-job="%d"] .wf-state`, id) }
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled,
		emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disable JavaScript: %v", err)
	}
	b.run(t, "open the graph from the job page without JavaScript",
		chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", e.base, mid)),
		chromedp.WaitVisible(chromedp.CSS("#job-workflow")),
		chromedp.Click(chromedp.CSS("#job-workflow")),
		chromedp.WaitVisible(chromedp.CSS("#workflow-graph svg")),
	)
	for id, want := range map[int64]string{a: "completed", mid: "discarded", last: "cancelled"} {
		if got := value(t, b, "read a node's state", chromedp.TextContent(chromedp.CSS(node(id)))); got != want {
			b.fail(t, "node of job %d shows %q, want %q", id, got, want)
		}
	}
	b.run(t, "follow the child's node",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#workflow-graph g[data-job="%d"] rect`, last))),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#workflow-graph g.wf-current[data-job="%d"]`, last))),
	)
	if got := value(t, b, "read the parent's state", chromedp.TextContent(chromedp.CSS(node(mid)))); got != "discarded" {
		b.fail(t, "c's graph shows its parent %q", got)
	}
	if os.Getenv("KILN_DASHBOARD_SCREENSHOT") == "" {
		return
	}
	// docs/img/dashboard-workflow.png: the chain seen from its middle job;
	// docs/img/dashboard-batch.png: a batch's page with its graph.
	var jobs []kiln.EnqueueParams
	for i := range 4 {
		jobs = append(jobs, kiln.EnqueueParams{Args: okArgs{Text: fmt.Sprintf("part %d", i+1)}})
	}
	batch, err := e.client.EnqueueBatch(t.Context(), jobs, &kiln.BatchOpts{ID: "nightly-export", Callback: okArgs{Text: "done"}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(t, batch.Callback.ID, kiln.JobStateCompleted)
	for _, shot := range []struct{ path, sel, file string }{
		{fmt.Sprintf("/jobs/%d/workflow", mid), "#workflow-graph svg", "dashboard-workflow.png"},
		{"/batches/nightly-export", "main", "dashboard-batch.png"},
	} {
		b.run(t, "open "+shot.path, chromedp.Navigate(e.base+shot.path), chromedp.WaitVisible(chromedp.CSS(shot.sel)))
		png := value(t, b, "screenshot "+shot.path, chromedp.FullScreenshot(100))
		path := filepath.Join("..", "docs", "img", shot.file)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(png))
	}
}
