package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// bulkPrefix starts the paths of one bulk operation, routed by api.bulkMux.
const bulkPrefix = "/jobs/bulk/"

// bulkFilter is a bulk request's filter: GET /jobs's filters, and a range
// of creation times.
type bulkFilter struct {
	States        []kilntype.JobState `json:"states"`
	Kinds         []string            `json:"kinds"`
	Queues        []string            `json:"queues"`
	Tag           string              `json:"tag"`
	ArgsContains  string              `json:"args_contains"`
	CreatedFrom   *time.Time          `json:"created_from"`
	CreatedBefore *time.Time          `json:"created_before"`
}

// bulkRequest is the body of POST /jobs/bulk.
type bulkRequest struct {
	Action      kilntype.BulkAction `json:"action"`
	Filter      bulkFilter          `json:"filter"`
	TargetQueue string              `json:"target_queue"`
	// DryRun counts the jobs the filter matches and starts nothing.
	DryRun bool `json:"dry_run"`
}

// bulkView is a bulk operation as the API shows it: the stored row and its
// progress from 0 to 1.
type bulkView struct {
	*kilntype.BulkOperation
	Progress float64 `json:"progress"`
}

func viewBulk(op *kilntype.BulkOperation) bulkView { return bulkView{op, op.Progress()} }

// bulkStart is POST /jobs/bulk: it starts an operation (202 with it), or,
// with dry_run, counts the jobs its filter matches (200 {count}).
func (a *api) bulkStart(w http.ResponseWriter, r *http.Request) error {
	var req bulkRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	f := kiln.JobFilter{States: req.Filter.States, Kinds: req.Filter.Kinds, Queues: req.Filter.Queues,
		Tag: req.Filter.Tag, ArgsContains: req.Filter.ArgsContains}
	for i, s := range f.States {
		if !s.Valid() {
			return badRequest("filter.states", "unknown state %q at %d (want one of %v)", s, i, kilntype.JobStates())
		}
	}
	if req.Filter.CreatedFrom != nil {
		f.CreatedFrom = req.Filter.CreatedFrom.UTC()
	}
	if req.Filter.CreatedBefore != nil {
		f.CreatedBefore = req.Filter.CreatedBefore.UTC()
	}
	if !req.Action.Valid() {
		return badRequest("action", "unknown action %q (want one of %v)", req.Action, kilntype.BulkActions())
	}
	if req.DryRun {
		n, err := a.client.JobCountMatching(r.Context(), &f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, struct {
			Count int `json:"count"`
		}{n})
	}
	// The operation outlives the request: its batches run in the client.
	op, err := a.client.JobBulk(context.WithoutCancel(r.Context()), &kiln.BulkParams{Action: req.Action, Filter: f, TargetQueue: req.TargetQueue})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, viewBulk(op))
}

// bulkList is GET /jobs/bulk: operations, newest first.
func (a *api) bulkList(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "cursor", "limit")
	if err != nil {
		return err
	}
	cursor, err := intParam(q, "cursor", 0, 0, 1<<63-1)
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 20, 1, 1000)
	if err != nil {
		return err
	}
	ops, err := a.client.JobBulkList(r.Context(), cursor, int(limit))
	if err != nil {
		return err
	}
	page := struct {
		Operations []bulkView `json:"operations"`
		NextCursor int64      `json:"next_cursor,omitempty"`
	}{Operations: []bulkView{}}
	for _, op := range ops {
		page.Operations = append(page.Operations, viewBulk(op))
	}
	if len(ops) == int(limit) {
		page.NextCursor = ops[len(ops)-1].ID
	}
	return writeJSON(w, http.StatusOK, page)
}

// byBulkID returns the handler of a route that answers the operation fn
// (a Client method) returns for the path's ID.
func byBulkID(fn func(*kiln.Client, context.Context, int64) (*kilntype.BulkOperation, error)) handlerFunc {
	return func(a *api, w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		op, err := fn(a.client, r.Context(), id)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, viewBulk(op))
	}
}
