package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
)

// TestWorkflowAndBatchPages checks the workflow graph of a continuation
// chain and of a batch member, and the batch page: nodes with their states
// and links, the "and N more" of a capped column, counts and progress.
func TestWorkflowAndBatchPages(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	a := e.enqueue(t, okArgs{}, nil)
	e.waitState(t, a, kiln.JobStateCompleted)
	b := e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{Parents: []int64{a}, Queue: "paused"})
	var children []int64
	for range 12 {
		children = append(children, e.enqueue(t, okArgs{}, &kiln.EnqueueOpts{Parents: []int64{b}}))
	}
	status, body := e.get(t, fmt.Sprintf("/jobs/%d/workflow", b))
	if status != http.StatusOK {
		t.Fatalf("status %d:\n%s", status, body)
	}
	for _, want := range []string{
		`id="workflow-graph"`, fmt.Sprintf(`data-job="%d" data-state="completed"`, a),
		fmt.Sprintf(`data-job="%d" data-state="`, b), "wf-current",
		fmt.Sprintf(`data-job="%d" data-state="pending"`, children[0]), "and more",
		fmt.Sprintf(`href="/jobs/%d/workflow"`, a),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("workflow page lacks %q", want)
		}
	}
	if strings.Contains(body, fmt.Sprintf(`data-job="%d"`, children[11])) {
		t.Errorf("the 12th child is drawn: the column is not capped")
	}
	if _, body = e.get(t, fmt.Sprintf("/jobs/%d", b)); !strings.Contains(body, fmt.Sprintf(`href="/jobs/%d/workflow"`, b)) {
		t.Errorf("the job page does not link its workflow")
	}
	if _, body = e.get(t, fmt.Sprintf("/jobs/%d/workflow", children[0])); !strings.Contains(body, "1 parent") {
		t.Errorf("child's workflow lacks its parent")
	}

	var jobs []kiln.EnqueueParams
	for range 12 {
		jobs = append(jobs, kiln.EnqueueParams{Args: okArgs{}})
	}
	batch, err := e.client.EnqueueBatch(ctx, jobs, &kiln.BatchOpts{ID: "nightly-export", Callback: okArgs{Text: "done"}})
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(t, batch.Callback.ID, kiln.JobStateCompleted)
	_, body = e.get(t, fmt.Sprintf("/jobs/%d/workflow", batch.Jobs[0].Job.ID))
	for _, want := range []string{`id="batch-graph"`, `href="/batches/nightly-export"`, "and 2 more",
		fmt.Sprintf(`data-job="%d" data-state="completed"`, batch.Callback.ID)} {
		if !strings.Contains(body, want) {
			t.Errorf("member's workflow lacks %q", want)
		}
	}
	status, body = e.get(t, "/batches/nightly-export")
	if status != http.StatusOK {
		t.Fatalf("batch page: status %d", status)
	}
	for _, want := range []string{`id="batch-progress" max="12" value="12"`, "12 of 12 finished (100 %)", `id="batch-jobs"`,
		fmt.Sprintf(`href="/jobs/%d"`, batch.Callback.ID), "and 2 more"} {
		if !strings.Contains(body, want) {
			t.Errorf("batch page lacks %q", want)
		}
	}
	for path, want := range map[string]int{"/batches/nope": http.StatusNotFound, "/jobs/999999/workflow": http.StatusNotFound,
		"/batches/nightly-export?after=x": http.StatusBadRequest} {
		if status, _ := e.get(t, path); status != want {
			t.Errorf("GET %s: status %d, want %d", path, status, want)
		}
	}
}
