package httpapi

import (
	"net/http"

	"github.com/kilnjobs/kiln"
)

// jobWorkflow is GET /jobs/{id}/workflow: the job's parents, children and
// batch (members and callback), each with its state, at most limit of
// each set.
func (a *api) jobWorkflow(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "limit")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 10, 1, kiln.MaxWorkflowNodes)
	if err != nil {
		return err
	}
	id, err := pathID(r)
	if err != nil {
		return err
	}
	wf, err := a.client.JobWorkflow(r.Context(), id, int(limit))
	if err != nil {
		return err
	}
	if wf.Parents == nil {
		wf.Parents = []kiln.WorkflowNode{}
	}
	if wf.Children == nil {
		wf.Children = []kiln.WorkflowNode{}
	}
	return writeJSON(w, http.StatusOK, wf)
}

// batchGet is GET /batches/{id}: the batch's counts per state and callback.
func (a *api) batchGet(w http.ResponseWriter, r *http.Request) error {
	b, err := a.client.BatchGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}

// batchJobs is GET /batches/{id}/jobs: the batch's jobs by ID, a page
// after the cursor, with their states.
func (a *api) batchJobs(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "limit", "cursor")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 100, 1, kiln.MaxWorkflowNodes)
	if err != nil {
		return err
	}
	after, err := intParam(q, "cursor", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := a.client.BatchGet(r.Context(), id); err != nil {
		return err
	}
	jobs, err := a.client.BatchJobs(r.Context(), id, after, int(limit)+1)
	if err != nil {
		return err
	}
	out := map[string]any{"jobs": jobs}
	if len(jobs) > int(limit) {
		jobs = jobs[:limit]
		out["jobs"], out["next_cursor"] = jobs, jobs[len(jobs)-1].ID
	}
	return writeJSON(w, http.StatusOK, out)
}
