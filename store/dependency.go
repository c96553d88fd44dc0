package store

import (
	"encoding/json"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
)

// HasDependencies reports whether p makes its job a continuation (it has
// parents) or a batch member or callback.
func (p *JobInsertParams) HasDependencies() bool {
	return len(p.ParentIDs) > 0 || len(p.ParentRefs) > 0 || p.BatchID != "" || p.BatchCallback
}

// CheckDependencies checks the continuation and batch fields of params, as
// every backend's JobInsertMany must before it writes anything: a batch
// callback names its batch, a job with parents is inserted pending with a
// known ParentFailure, and ParentRefs name earlier params. It reports
// whether any param has dependencies. Errors name the param by index.
func CheckDependencies(params []*JobInsertParams) (bool, error) {
	found := false
	for i, p := range params {
		found = found || p.HasDependencies()
		if p.BatchCallback && p.BatchID == "" {
			return false, fmt.Errorf("param %d: a batch callback needs a BatchID", i)
		}
		if len(p.ParentIDs) == 0 && len(p.ParentRefs) == 0 {
			continue
		}
		if p.State != kilntype.JobStatePending {
			return false, fmt.Errorf("param %d: a job with parents must be inserted pending, not %q", i, p.State)
		}
		if !p.ParentFailure.Valid() {
			return false, fmt.Errorf("param %d: unknown parent failure policy %q", i, p.ParentFailure)
		}
		for _, ref := range p.ParentRefs {
			if ref < 0 || ref >= i {
				return false, fmt.Errorf("param %d: parent ref %d is not an earlier param", i, ref)
			}
		}
	}
	return found, nil
}

// BatchExistsError returns the error of an insert that names batch id
// (JobInsertParams.BatchID) when a batch of that ID is stored already: a
// *kilntype.ValidationError for field "batch_id". A batch ID is used by
// one call only, so that a batch's members, counts and callback are those
// of the call that made it; it can be used again once the batch is
// deleted (with its last job, by retention).
func BatchExistsError(id string) error {
	return &kilntype.ValidationError{Field: "batch_id",
		Message: fmt.Sprintf("batch %q exists: a batch ID names the jobs of one enqueue; choose another", id)}
}

// MetadataParentIDs is the metadata key that lists a continuation's parents,
// a JSON array of job IDs: the client sets it on the continuations it
// enqueues, RecurringEnqueue on the jobs it makes wait.
const MetadataParentIDs = "kiln.parent_ids"

// WithParentIDs returns the JSON object metadata (nil or empty: {}) with
// MetadataParentIDs set to parents. It fails if metadata is not a JSON
// object.
func WithParentIDs(metadata json.RawMessage, parents ...int64) (json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &m); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
		if m == nil { // a JSON null
			m = map[string]json.RawMessage{}
		}
	}
	ids, err := json.Marshal(parents)
	if err != nil {
		return nil, err
	}
	m[MetadataParentIDs] = ids
	return json.Marshal(m)
}
