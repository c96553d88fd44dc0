package httpapi

import (
	"net/http"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// retentionList is GET /retention: the retention rules in effect.
func (a *api) retentionList(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	rules, err := a.client.RetentionList(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"rules": nonNil(rules)})
}

// retentionPut is PUT /retention: stores the rule of the body (replacing
// the stored rule of its state, kind and queue) and answers the rules in
// effect.
func (a *api) retentionPut(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		State kilntype.JobState `json:"state"`
		Kind  string            `json:"kind"`
		Queue string            `json:"queue"`
		Keep  string            `json:"keep"`
	}
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	keep, err := kilntype.ParseKeep(body.Keep)
	if err != nil {
		return badRequest("keep", "%v", err)
	}
	rule := kiln.RetentionRule{State: body.State, Kind: body.Kind, Queue: body.Queue, Keep: keep}
	if err := rule.Validate(); err != nil {
		return badRequest("state", "%v", err)
	}
	if err := a.client.RetentionSet(r.Context(), rule); err != nil {
		return err
	}
	return a.retentionList(w, r)
}

// retentionDelete is DELETE /retention?state=&kind=&queue=: deletes the
// stored rule of that key and answers whether there was one.
func (a *api) retentionDelete(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "state", "kind", "queue")
	if err != nil {
		return err
	}
	state := kilntype.JobState(q.Get("state"))
	if !state.Finalized() {
		return badRequest("state", "state %q: want completed, cancelled or discarded", state)
	}
	deleted, err := a.client.RetentionDelete(r.Context(), state, q.Get("kind"), q.Get("queue"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"deleted": deleted})
}
