package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// BulkStore is the part of Store that runs bulk operations: one action
// (retry, cancel, delete, move) on every job a filter matches, in bounded
// batches. An operation is a row of its own (migration 013), so that every
// process sharing the store sees its progress and a process that stops
// leaves it visible, to resume or cancel. Its batches walk the job IDs in
// ascending order from the oldest job to the newest at its creation; each
// batch is one transaction that changes at most Limit jobs, examines at
// most Window consecutive IDs, and moves the operation's cursor, so that
// the cursor never disagrees with the jobs and no batch holds its locks
// long.
type BulkStore interface {
	// JobCountMatching counts the jobs that params.Filter matches among
	// the IDs after params.After up to params.UpTo (0: the newest),
	// reading from the jobs as JobList does. Callers bound a count of
	// millions of jobs by counting windows of IDs in turn, or by
	// params.Limit: the count stops there. Without a range of IDs (After
	// and UpTo both 0) the store reads the index that suits the filter
	// (a state's and kind's), not the jobs in ID order.
	JobCountMatching(ctx context.Context, params *JobCountMatchingParams) (int, error)
	// BulkCreate stores a new operation, running, owned by params.Owner,
	// over the IDs of the jobs stored now (FirstID the oldest, LastID the
	// newest; an empty store makes it completed at once), and returns it.
	// The action must be valid and a move must name its queue.
	BulkCreate(ctx context.Context, params *BulkCreateParams) (*kilntype.BulkOperation, error)
	// BulkGet returns the operation, or a wrapped ErrNotFound.
	BulkGet(ctx context.Context, params *BulkGetParams) (*kilntype.BulkOperation, error)
	// BulkList returns the newest operations first, at most Limit (1 to
	// 1,000; 0 means 20), with IDs below Cursor when it is not 0.
	BulkList(ctx context.Context, params *BulkListParams) ([]*kilntype.BulkOperation, error)
	// BulkRunBatch runs the next batch of the operation in one
	// transaction, and returns it as it is after. It does nothing (and
	// returns the operation as it is) unless the operation is running
	// and owned by params.Owner. When a cancel was requested it ends the
	// operation cancelled, changing no job. Otherwise it takes the IDs
	// that match the filter among the Window IDs after the cursor (up to
	// LastID), at most Limit of them, applies the action to those whose
	// state allows it (see kilntype.BulkAction), adds to the counts,
	// moves the cursor to the last ID taken (or to the end of the window
	// when it took fewer than Limit), and completes the operation when
	// the cursor reaches LastID. UpdatedAt becomes params.Now.
	BulkRunBatch(ctx context.Context, params *BulkRunBatchParams) (*BulkBatchResult, error)
	// BulkCancel requests the operation's cancel: a running operation
	// whose UpdatedAt is not before params.StaleBefore ends at its
	// process's next batch; any other that is not done (interrupted, or
	// running but stale: its process is gone) is cancelled at once. A
	// done operation is returned as is; an unknown ID gives a wrapped
	// ErrNotFound.
	BulkCancel(ctx context.Context, params *BulkCancelParams) (*kilntype.BulkOperation, error)
	// BulkResume makes params.Owner the owner of an interrupted
	// operation, or of a running one whose UpdatedAt is before
	// params.StaleBefore, and sets it running again from its cursor. Any
	// other operation gives a wrapped ErrJobState; an unknown ID,
	// ErrNotFound.
	BulkResume(ctx context.Context, params *BulkResumeParams) (*kilntype.BulkOperation, error)
	// BulkRelease ends params.Owner's running operation params.ID as
	// params.State (interrupted or failed, with Error) and returns it; an
	// operation in another state or owned by another process is returned
	// unchanged.
	BulkRelease(ctx context.Context, params *BulkReleaseParams) (*kilntype.BulkOperation, error)
	// BulkDeleteOld deletes up to params.Max operations that ended
	// (completed, cancelled or failed) before params.Before, oldest
	// first, and returns how many it deleted; interrupted and running
	// operations are kept, whatever their age. The maintenance leader's
	// cleaner calls it with Config.BulkRetention.
	BulkDeleteOld(ctx context.Context, params *BulkDeleteOldParams) (int, error)
}

// JobCountMatchingParams counts the jobs a filter matches in a range of
// IDs.
type JobCountMatchingParams struct {
	Filter kilntype.JobFilter
	After  int64 // IDs above it
	UpTo   int64 // IDs up to it, included; 0: no bound
	// Limit, when above 0, is where the count stops: the result is at
	// most Limit, and Limit means "Limit or more".
	Limit int
}

// BulkCreateParams describes a new bulk operation.
type BulkCreateParams struct {
	Action      kilntype.BulkAction
	Filter      kilntype.JobFilter
	TargetQueue string // BulkMove only
	Owner       string // the ID of the process that will run it
	Now         time.Time
}

// BulkGetParams names the operation BulkGet returns.
type BulkGetParams struct {
	ID int64
}

// BulkListParams pages BulkList.
type BulkListParams struct {
	Cursor int64 // IDs below it; 0: the newest
	Limit  int   // 1 to MaxBulkListLimit; 0 means 20
}

// MaxBulkListLimit is the largest BulkListParams.Limit.
const MaxBulkListLimit = 1000

// BulkListLimit applies BulkList's default and bound to limit.
func BulkListLimit(limit int) int {
	if limit <= 0 {
		return 20
	}
	return min(limit, MaxBulkListLimit)
}

// BulkRunBatchParams runs one batch of an operation.
type BulkRunBatchParams struct {
	ID    int64
	Owner string // the batch runs only while the operation is its
	Now   time.Time
	// Limit is the most jobs one batch changes (and the IDs it takes),
	// Window the most consecutive IDs it examines; both at least 1.
	Limit  int
	Window int64
}

// BulkBatchResult is the outcome of one batch.
type BulkBatchResult struct {
	// Op is the operation after the batch.
	Op *kilntype.BulkOperation
	// Queues are the queues the batch made jobs available in (a retry; a
	// move of available jobs: the target queue), each once, for the
	// caller to wake their producers.
	Queues []string
	// CancelRequested are the running jobs whose cancel the batch
	// requested, for a caller that runs one of them to cancel it at once.
	CancelRequested []int64
}

// BulkCancelParams requests the cancel of an operation.
type BulkCancelParams struct {
	ID  int64
	Now time.Time
	// StaleBefore tells a running operation whose process is gone: one
	// not updated since is cancelled at once.
	StaleBefore time.Time
}

// BulkResumeParams takes over an interrupted or stale operation.
type BulkResumeParams struct {
	ID          int64
	Owner       string
	Now         time.Time
	StaleBefore time.Time
}

// BulkReleaseParams ends a process's running operation without completing
// it.
type BulkReleaseParams struct {
	ID    int64
	Owner string
	// State is kilntype.BulkInterrupted or kilntype.BulkFailed.
	State kilntype.BulkState
	Error string // stored through CleanText
	Now   time.Time
}

// BulkDeleteOldParams selects ended operations to delete.
type BulkDeleteOldParams struct {
	Before time.Time // operations whose FinishedAt is before it
	Max    int       // at most this many (at least 1)
}

// BulkListParamsFor returns the JobListParams that list, oldest first, the
// jobs f matches among the IDs after after up to upTo (0: no bound), at
// most limit of them: the walk of a bulk batch or count, which each store
// runs with its own JobList query. Empty lists of f mean "any".
func BulkListParamsFor(f *kilntype.JobFilter, after, upTo int64, limit int) *JobListParams {
	p := &JobListParams{
		Tag:           f.Tag,
		ArgsContains:  f.ArgsContains,
		CreatedFrom:   f.CreatedFrom,
		CreatedBefore: f.CreatedBefore,
		Cursor:        after,
		StopAt:        upTo,
		OrderAsc:      true,
		Limit:         limit,
	}
	if len(f.States) > 0 {
		p.States = slices.Clone(f.States)
	}
	if len(f.Kinds) > 0 {
		p.Kinds = slices.Clone(f.Kinds)
	}
	if len(f.Queues) > 0 {
		p.Queues = slices.Clone(f.Queues)
	}
	return p
}

// BulkActionStates returns the states of the jobs action changes (for
// BulkCancel, running jobs get a cancel request only), restricted to the
// states of filter when it names any: a batch re-checks them on each job
// it changes, so a job that changed state since it was taken is skipped.
func BulkActionStates(action kilntype.BulkAction, filter []kilntype.JobState) []kilntype.JobState {
	var states []kilntype.JobState
	switch action {
	case kilntype.BulkRetry:
		states = []kilntype.JobState{kilntype.JobStateScheduled, kilntype.JobStateRetryable,
			kilntype.JobStateCancelled, kilntype.JobStateDiscarded, kilntype.JobStateCompleted}
	case kilntype.BulkCancel:
		states = []kilntype.JobState{kilntype.JobStatePending, kilntype.JobStateScheduled,
			kilntype.JobStateAvailable, kilntype.JobStateRetryable, kilntype.JobStateRunning}
	case kilntype.BulkDelete, kilntype.BulkMove:
		for _, s := range kilntype.JobStates() {
			if s != kilntype.JobStateRunning {
				states = append(states, s)
			}
		}
	}
	if len(filter) == 0 {
		return states
	}
	return slices.DeleteFunc(states, func(s kilntype.JobState) bool { return !slices.Contains(filter, s) })
}

// BulkWindowEnd returns the last ID a batch of op examines: Window IDs
// after its cursor, at most LastID.
func BulkWindowEnd(op *kilntype.BulkOperation, window int64) int64 {
	return min(op.Cursor+max(window, 1), op.LastID)
}

// BulkStrings returns states as strings, for a store's query arguments.
func BulkStrings(states []kilntype.JobState) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

// ValidateBulkCreate checks params as every backend's BulkCreate does
// before it writes anything: a known action, a TargetQueue for BulkMove
// only, known states, and the text of the filter and the queue (see
// CheckText). The error is a *kilntype.ValidationError naming the field.
func ValidateBulkCreate(p *BulkCreateParams) error {
	if !p.Action.Valid() {
		return &kilntype.ValidationError{Field: "action", Message: fmt.Sprintf("unknown bulk action %q (want one of %v)", p.Action, kilntype.BulkActions())}
	}
	switch {
	case p.Action == kilntype.BulkMove && p.TargetQueue == "":
		return &kilntype.ValidationError{Field: "target_queue", Message: "a move needs the queue to move jobs to"}
	case p.Action != kilntype.BulkMove && p.TargetQueue != "":
		return &kilntype.ValidationError{Field: "target_queue", Message: "only a move takes a target queue"}
	}
	if err := CheckText("target_queue", p.TargetQueue); err != nil {
		return err
	}
	return ValidateJobFilter(&p.Filter)
}

// ValidateJobFilter checks a filter's states and text (see CheckText),
// naming the field in a *kilntype.ValidationError.
func ValidateJobFilter(f *kilntype.JobFilter) error {
	for i, s := range f.States {
		if !s.Valid() {
			return &kilntype.ValidationError{Field: fmt.Sprintf("filter.states[%d]", i), Message: fmt.Sprintf("unknown job state %q", s)}
		}
	}
	for _, l := range []struct {
		field  string
		values []string
	}{{"filter.kinds", f.Kinds}, {"filter.queues", f.Queues}} {
		for i, v := range l.values {
			if err := CheckText(fmt.Sprintf("%s[%d]", l.field, i), v); err != nil {
				return err
			}
		}
	}
	if err := CheckText("filter.tag", f.Tag); err != nil {
		return err
	}
	return CheckText("filter.args_contains", f.ArgsContains)
}
