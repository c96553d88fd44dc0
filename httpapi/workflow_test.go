package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/kilnjobs/kiln"
)

func TestWorkflowAndBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	ctx := context.Background()
	a, err := e.client.Enqueue(ctx, echoArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.client.Enqueue(ctx, echoArgs{}, &kiln.EnqueueOpts{Parents: []int64{a.Job.ID}})
	if err != nil {
		t.Fatal(err)
	}
	var wf kiln.Workflow
	e.call("GET", fmt.Sprintf("/jobs/%d/workflow", a.Job.ID), "", http.StatusOK, &wf)
	if wf.Job.ID != a.Job.ID || wf.Job.State != kiln.JobStateAvailable || len(wf.Parents) != 0 ||
		len(wf.Children) != 1 || wf.Children[0].ID != b.Job.ID || wf.Children[0].State != kiln.JobStatePending {
		t.Errorf("workflow %+v", wf)
	}
	batch, err := e.client.EnqueueBatch(ctx, []kiln.EnqueueParams{{Args: echoArgs{}}, {Args: echoArgs{}}, {Args: echoArgs{}}},
		&kiln.BatchOpts{ID: "b1", Callback: echoArgs{}})
	if err != nil {
		t.Fatal(err)
	}
	e.call("GET", fmt.Sprintf("/jobs/%d/workflow?limit=2", batch.Jobs[0].Job.ID), "", http.StatusOK, &wf)
	if wf.Batch == nil || wf.Batch.Total != 3 || len(wf.BatchJobs) != 2 || wf.MoreBatchJobs != 1 ||
		wf.BatchCallback == nil || wf.BatchCallback.ID != batch.Callback.ID {
		t.Errorf("member's workflow %+v", wf)
	}
	var row kiln.BatchRow
	e.call("GET", "/batches/b1", "", http.StatusOK, &row)
	if row.ID != "b1" || row.Total != 3 || row.Counts[kiln.JobStateAvailable] != 3 || row.CallbackJobID != batch.Callback.ID {
		t.Errorf("batch %+v", row)
	}
	var page struct {
		Jobs       []kiln.WorkflowNode
		NextCursor int64 `json:"next_cursor"`
	}
	e.call("GET", "/batches/b1/jobs?limit=2", "", http.StatusOK, &page)
	if len(page.Jobs) != 2 || page.NextCursor != batch.Jobs[1].Job.ID {
		t.Fatalf("first page %+v", page)
	}
	page.NextCursor = 0
	e.call("GET", fmt.Sprintf("/batches/b1/jobs?limit=2&cursor=%d", batch.Jobs[1].Job.ID), "", http.StatusOK, &page)
	if len(page.Jobs) != 1 || page.Jobs[0].ID != batch.Jobs[2].Job.ID || page.NextCursor != 0 {
		t.Errorf("second page %+v", page)
	}
	e.call("GET", "/batches/nope", "", http.StatusNotFound, nil)
	e.call("GET", "/batches/nope/jobs", "", http.StatusNotFound, nil)
	e.call("GET", "/jobs/999999/workflow", "", http.StatusNotFound, nil)
	e.call("GET", "/jobs/1/workflow?limit=0", "", http.StatusBadRequest, nil)
}
