package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/kilntest"
)

// outArgs are the args of kind "out", whose worker records {"twice": 2n}.
type outArgs struct {
	N int `json:"n"`
}

func (outArgs) Kind() string { return "out" }

// TestJobOutputAndUniqueReplace checks, over HTTP and against
// openapi.yaml, that GET /jobs/{id} returns a completed job's output, and
// that POST /jobs with unique.key and unique.replace reports a replaced
// job.
func TestJobOutputAndUniqueReplace(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[outArgs]) error {
		return job.SetOutput(map[string]int{"twice": 2 * job.Args.N})
	}))
	clock := kilntest.NewClock(testBase)
	client := clienttest.New(t, workers, clock, true, false)
	e := &env{t: t, client: client, clock: clock,
		h: http.StripPrefix("/api", New(client, &Options{Logger: slog.New(slog.DiscardHandler)}))}
	job := e.enqueue(`{"kind":"out","args":{"n":21}}`)
	clienttest.WaitState(t, client, job.ID, kiln.JobStateCompleted)
	var got map[string]json.RawMessage
	e.call("GET", "/jobs/"+itoa(job.ID), "", http.StatusOK, &got)
	if string(got["output"]) != `{"twice":42}` {
		t.Fatalf("GET /jobs/%d: output %s, want {\"twice\":42}", job.ID, got["output"])
	}

	body := `{"kind":"out","args":{"n":1},"run_in":"1h","unique":{"key":"k","replace":["args","schedule"]}}`
	var first, second struct {
		Job            kiln.JobRow `json:"job"`
		UniqueSkipped  bool        `json:"unique_skipped"`
		UniqueReplaced bool        `json:"unique_replaced"`
	}
	e.call("POST", "/jobs", body, http.StatusCreated, &first)
	e.call("POST", "/jobs", `{"kind":"out","args":{"n":2},"run_in":"2h","unique":{"key":"k","replace":["args","schedule"]}}`, http.StatusOK, &second)
	if !second.UniqueSkipped || !second.UniqueReplaced || second.Job.ID != first.Job.ID || string(second.Job.Args) != `{"n":2}` {
		t.Fatalf("replacing POST: %+v", second)
	}
	e.fail("POST", "/jobs", `{"kind":"out","args":{"n":1},"unique":{"key":"k","replace":["kind"]}}`, http.StatusBadRequest, "unique.replace", "unknown field")
}
