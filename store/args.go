package store

import "context"

// JobArgsStore is the part of Store that rewrites a job's args in place:
// what kiln.Client.JobArgsReencrypt needs to move encrypted args to a new
// key.
type JobArgsStore interface {
	// JobArgsReplace sets the args of job params.ID to params.New if they
	// still are params.Old (as JobList or JobGet returned them: the same
	// JSON value), in any state, and reports whether it did. A job whose
	// args changed in between, or that is gone, is left alone (false).
	JobArgsReplace(ctx context.Context, params *JobArgsReplaceParams) (bool, error)
}

// JobArgsReplaceParams rewrites one job's args.
type JobArgsReplaceParams struct {
	ID  int64
	Old []byte // valid JSON
	New []byte // valid JSON
}
