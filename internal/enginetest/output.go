package enginetest

import (
	"context"
	"slices"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// JobOutputList is the method name of Store.JobOutputList in Calls.
const JobOutputList = "JobOutputList"

// JobOutputList returns, in ID order, the outputs of the jobs of
// params.IDs that an applied finish completed (their Output, nil when
// none); the fake store keeps no batches, so a BatchID lists none.
func (s *Store) JobOutputList(ctx context.Context, params *store.JobOutputListParams) ([]*kilntype.JobOutput, error) {
	if err := params.Validate(); err != nil {
		return nil, err
	}
	if err := s.enter(ctx, JobOutputList, params); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []*kilntype.JobOutput{}
	for _, p := range s.finished {
		if slices.Contains(params.IDs, p.ID) && p.ID > params.AfterID && p.State == kilntype.JobStateCompleted {
			out = append(out, &kilntype.JobOutput{JobID: p.ID, State: p.State, Output: p.Output})
		}
	}
	slices.SortFunc(out, func(a, b *kilntype.JobOutput) int { return int(a.JobID - b.JobID) })
	return out[:min(len(out), params.EffectiveLimit())], nil
}
