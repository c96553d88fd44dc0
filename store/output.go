package store

import (
	"context"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
)

// JobOutputStore is the part of Store that reads jobs' outputs: what a
// worker recorded as its job's result (JobFinishParams.Output), for the
// continuations and batch callbacks that run after it.
//
// A store also returns a job's output in JobGet (kilntype.JobRow.Output),
// never in JobList, and clears it in JobRetry.
type JobOutputStore interface {
	// JobOutputList returns the outputs of the jobs that params selects,
	// in ID order, at most Limit of them after AfterID: each with its
	// state and its output (nil when it recorded none or did not
	// complete). A deleted job is absent.
	JobOutputList(ctx context.Context, params *JobOutputListParams) ([]*kilntype.JobOutput, error)
}

// MaxOutputListLimit is the most outputs JobOutputList returns in one call,
// and DefaultOutputListLimit how many it returns when Limit is 0.
const (
	DefaultOutputListLimit = 100
	MaxOutputListLimit     = 1_000
)

// JobOutputListParams selects the jobs whose outputs JobOutputList returns:
// those of IDs, or the members of batch BatchID (its callback excluded);
// exactly one of the two must be set.
type JobOutputListParams struct {
	IDs     []int64
	BatchID string
	// AfterID skips the jobs whose ID is AfterID or lower (a page's cursor).
	AfterID int64
	// Limit is how many outputs at most: 0 means DefaultOutputListLimit;
	// above MaxOutputListLimit is cut to it.
	Limit int
}

// Validate checks that exactly one of IDs and BatchID is set and that
// Limit is not negative. Stores call it before reading.
func (p *JobOutputListParams) Validate() error {
	if (len(p.IDs) > 0) == (p.BatchID != "") {
		return fmt.Errorf("list outputs: want IDs or a BatchID, not both or neither")
	}
	if p.Limit < 0 {
		return fmt.Errorf("list outputs: limit %d is negative", p.Limit)
	}
	if len(p.IDs) > MaxOutputListLimit {
		return fmt.Errorf("list outputs: %d IDs; at most %d", len(p.IDs), MaxOutputListLimit)
	}
	return nil
}

// EffectiveLimit returns the number of outputs to read: Limit, or its
// default, cut to MaxOutputListLimit.
func (p *JobOutputListParams) EffectiveLimit() int {
	if p.Limit == 0 {
		return DefaultOutputListLimit
	}
	return min(p.Limit, MaxOutputListLimit)
}
