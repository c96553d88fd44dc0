package store

import (
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
