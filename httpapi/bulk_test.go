package httpapi

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
)

// waitBulk polls GET /jobs/bulk/{id} until the operation is done.
func (e *env) waitBulk(id int64) bulkView {
	e.t.Helper()
	var op bulkView
	testutil.EventuallyNil(e.t, fmt.Sprintf("bulk operation %d to end", id), func() error {
		op = bulkView{}
		e.call("GET", "/jobs/bulk/"+itoa(id), "", http.StatusOK, &op)
		if !op.Done() {
			return fmt.Errorf("operation %d is %s", id, op.State)
		}
		return nil
	})
	return op
}

// startBulk posts body to /jobs/bulk and waits for the operation to end.
func (e *env) startBulk(body string) bulkView {
	e.t.Helper()
	var op bulkView
	e.call("POST", "/jobs/bulk", body, http.StatusAccepted, &op)
	if op.ID == 0 || op.Owner != e.client.ID() {
		e.t.Fatalf("POST /jobs/bulk %s: %+v", body, op)
	}
	return e.waitBulk(op.ID)
}

func TestBulk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	var echoes []int64
	for i := range 6 {
		q := "b"
		if i%2 == 0 {
			q = "a"
		}
		echoes = append(echoes, e.enqueue(fmt.Sprintf(`{"kind":"echo","args":{"n":%d},"queue":%q}`, i, q)).ID)
	}
	fail := e.enqueue(`{"kind":"fail"}`)

	var count struct{ Count int }
	e.call("POST", "/jobs/bulk", `{"action":"cancel","filter":{"kinds":["echo"]},"dry_run":true}`, http.StatusOK, &count)
	if count.Count != 6 {
		t.Errorf("dry run counted %d, want 6", count.Count)
	}
	op := e.startBulk(`{"action":"cancel","filter":{"kinds":["echo"]}}`)
	if op.State != kilntype.BulkCompleted || op.Changed != 6 || op.Progress != 1 {
		t.Errorf("bulk cancel: %+v", op)
	}
	e.waitState(fail.ID, kilntype.JobStateAvailable)
	op = e.startBulk(`{"action":"retry","filter":{"states":["cancelled"],"queues":["a"]}}`)
	if op.Changed != 3 || op.Filter.Queues[0] != "a" {
		t.Errorf("bulk retry: %+v", op)
	}
	for i, id := range echoes {
		want := kilntype.JobStateCancelled
		if i%2 == 0 {
			want = kilntype.JobStateAvailable
		}
		if j := e.job(id); j.State != want {
			t.Errorf("job %d is %s, want %s", id, j.State, want)
		}
	}
	op = e.startBulk(`{"action":"move","target_queue":"c","filter":{"states":["available"],"created_from":"2000-01-01T00:00:00Z"}}`)
	if op.Changed != 4 || op.TargetQueue != "c" {
		t.Errorf("bulk move: %+v", op)
	}
	op = e.startBulk(`{"action":"delete","filter":{"queues":["b"]}}`)
	if op.Changed != 3 || e.jobCount() != 4 {
		t.Errorf("bulk delete: %+v; %d jobs left, want 4", op, e.jobCount())
	}

	var page struct {
		Operations []bulkView `json:"operations"`
		NextCursor int64      `json:"next_cursor"`
	}
	e.call("GET", "/jobs/bulk", "", http.StatusOK, &page)
	if len(page.Operations) != 4 || page.Operations[0].Action != kilntype.BulkDelete || page.NextCursor != 0 {
		t.Errorf("GET /jobs/bulk: %+v", page)
	}
	e.call("GET", "/jobs/bulk?limit=1", "", http.StatusOK, &page)
	if len(page.Operations) != 1 || page.NextCursor != page.Operations[0].ID {
		t.Errorf("GET /jobs/bulk?limit=1: %+v", page)
	}
	// Cancelling an operation that ended returns it as is; resuming it
	// is a conflict.
	var got bulkView
	e.call("DELETE", "/jobs/bulk/"+itoa(op.ID), "", http.StatusOK, &got)
	e.call("POST", "/jobs/bulk/"+itoa(op.ID)+"/cancel", "", http.StatusOK, &got)
	if got.State != kilntype.BulkCompleted {
		t.Errorf("cancel of a completed operation: %+v", got)
	}
	e.fail("POST", "/jobs/bulk/"+itoa(op.ID)+"/resume", "", http.StatusConflict, "", "completed")

	// The time range of GET /jobs: every job was created at testBase.
	var jobs jobPage
	e.call("GET", "/jobs?created_before="+testBase.Format("2006-01-02T15:04:05Z"), "", http.StatusOK, &jobs)
	if len(jobs.Jobs) != 0 {
		t.Errorf("jobs created before testBase: %d", len(jobs.Jobs))
	}
	e.call("GET", "/jobs?created_from="+testBase.Format("2006-01-02T15:04:05Z"), "", http.StatusOK, &jobs)
	if len(jobs.Jobs) != 4 {
		t.Errorf("jobs created from testBase: %d, want 4", len(jobs.Jobs))
	}

	e.fail("POST", "/jobs/bulk", `{"action":"explode"}`, http.StatusBadRequest, "action", "unknown action")
	e.fail("POST", "/jobs/bulk", `{"action":"move"}`, http.StatusBadRequest, "target_queue", "needs the queue")
	e.fail("POST", "/jobs/bulk", `{"action":"retry","filter":{"states":["gone"]}}`, http.StatusBadRequest, "filter.states", "unknown state")
	e.fail("POST", "/jobs/bulk", `{"action":"retry","filter":{"kind":"x"}}`, http.StatusBadRequest, "kind", "unknown field")
	e.fail("GET", "/jobs/bulk/99999", "", http.StatusNotFound, "", "not found")
	e.fail("GET", "/jobs/bulk/x", "", http.StatusBadRequest, "id", "")
	e.fail("GET", "/jobs?created_from=yesterday", "", http.StatusBadRequest, "created_from", "RFC 3339")
	e.fail("GET", "/jobs/bulk/1/attempts", "", http.StatusNotFound, "", "no route")
}

func TestBulkReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{ReadOnly: true}, false)
	e.fail("POST", "/jobs/bulk", `{"action":"delete"}`, http.StatusForbidden, "", "read-only")
	e.fail("DELETE", "/jobs/bulk/1", "", http.StatusForbidden, "", "read-only")
	e.call("GET", "/jobs/bulk", "", http.StatusOK, nil)
}
