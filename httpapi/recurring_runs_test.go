package httpapi

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
)

func TestRecurringRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	e.call("PUT", "/recurring/report", `{"schedule":"@hourly","kind":"echo","args":{"n":1}}`, http.StatusOK, nil)
	var job struct {
		ID int64 `json:"id"`
	}
	e.call("POST", "/recurring/report/trigger", "", http.StatusCreated, &job)
	// A run of missed occurrences, as the scheduler records it.
	at := e.clock.Now().Add(-3 * time.Hour).UTC()
	_, err := e.store.RecurringEnqueue(context.Background(), &store.RecurringEnqueueParams{ID: "report", Now: e.clock.Now(),
		Skips: []store.RecurringSkip{{At: at, Through: at.Add(2 * time.Hour), Count: 3, Reason: store.SkipMisfire, Policy: "skip"}}})
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Runs []runView }
	e.call("GET", "/recurring/report/runs?limit=5", "", http.StatusOK, &out)
	if len(out.Runs) != 2 {
		t.Fatalf("runs %+v, want the triggered job and the skip", out.Runs)
	}
	if r := out.Runs[0]; r.JobID != job.ID || r.State != kiln.JobStateAvailable || r.Skipped != "" || r.Through != nil {
		t.Errorf("newest run %+v, want job %d available", r, job.ID)
	}
	if r := out.Runs[1]; r.JobID != 0 || r.Skipped != "misfire" || r.Policy != "skip" || r.Count != 3 ||
		!r.At.Equal(at) || r.Through == nil || !r.Through.Equal(at.Add(2*60*60e9)) {
		t.Errorf("skip %+v", r)
	}
	e.call("GET", "/recurring/report/runs?limit=1", "", http.StatusOK, &out)
	if len(out.Runs) != 1 {
		t.Errorf("limit 1: %d runs", len(out.Runs))
	}
	e.call("GET", "/recurring/report/runs?limit=0", "", http.StatusBadRequest, nil)
	e.call("GET", "/recurring/report/runs?limit=1001", "", http.StatusBadRequest, nil)
	e.call("GET", "/recurring/nope/runs", "", http.StatusNotFound, nil)
}
