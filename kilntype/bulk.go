package kilntype

import (
	"fmt"
	"slices"
	"time"
)

// JobFilter selects jobs as a list's filters do (kiln.JobListParams): a job
// matches when it matches every filter that is set, and a list filter
// when its value is any of the list's. The zero value matches every job.
// A bulk operation keeps its filter as JSON, in the form of the field
// tags.
type JobFilter struct {
	States []JobState `json:"states,omitempty"` // any of these; empty means all
	Kinds  []string   `json:"kinds,omitempty"`  // any of these; empty means all
	Queues []string   `json:"queues,omitempty"` // any of these; empty means all
	// Tag, if not empty, keeps the jobs that have this tag.
	Tag string `json:"tag,omitempty"`
	// ArgsContains, if not empty, keeps the jobs whose args, as JSON text,
	// contain it (case-sensitive; see kiln.JobListParams.ArgsContains for
	// how each store prints args).
	ArgsContains string `json:"args_contains,omitempty"`
	// CreatedFrom, if not zero, keeps the jobs created at or after it;
	// CreatedBefore, if not zero, those created before it.
	CreatedFrom   time.Time `json:"created_from,omitzero"`
	CreatedBefore time.Time `json:"created_before,omitzero"`
}

// BulkAction is what a bulk operation does to each job its filter matches.
type BulkAction string

// The bulk actions. Each applies to the jobs whose state allows it, as the
// action on one job does, and skips the others (counted in
// BulkOperation.Skipped): a job that runs is never retried, moved or
// deleted.
const (
	// BulkRetry makes scheduled, retryable, cancelled, discarded and
	// completed jobs available now (Client.JobRetry of each); a job whose
	// unique key another unfinished job holds is skipped.
	BulkRetry BulkAction = "retry"
	// BulkCancel cancels pending, scheduled, available and retryable jobs,
	// and asks the processes running running jobs to cancel them
	// (Client.JobCancel of each).
	BulkCancel BulkAction = "cancel"
	// BulkDelete deletes every job that is not running, with its history.
	BulkDelete BulkAction = "delete"
	// BulkMove moves every job that is not running to the operation's
	// TargetQueue; its state, priority and due time stay.
	BulkMove BulkAction = "move"
)

// BulkActions returns the bulk actions, in a fixed order.
func BulkActions() []BulkAction { return []BulkAction{BulkRetry, BulkCancel, BulkDelete, BulkMove} }

// Valid reports whether a is one of the bulk actions.
func (a BulkAction) Valid() bool { return slices.Contains(BulkActions(), a) }

// BulkState is the state of a bulk operation.
type BulkState string

// The states of a bulk operation. Only a running operation changes jobs;
// the others are final, except interrupted, which Client.JobBulkResume
// runs again from where it stopped.
const (
	// BulkRunning: a process (Owner) runs its batches.
	BulkRunning BulkState = "running"
	// BulkCompleted: every job of its ID range was examined.
	BulkCompleted BulkState = "completed"
	// BulkCancelled: cancelled on request; the batches already committed
	// stay.
	BulkCancelled BulkState = "cancelled"
	// BulkFailed: a batch kept failing; Error says why.
	BulkFailed BulkState = "failed"
	// BulkInterrupted: its process stopped before it ended (Client.Stop),
	// or stopped refreshing it for longer than kiln.BulkStaleAfter (it
	// died): resumable.
	BulkInterrupted BulkState = "interrupted"
)

// BulkOperation is one bulk action on every job a filter matches, run in
// batches by one process and kept in the store, so that every process
// sharing it sees its progress. Its batches walk the job IDs in ascending
// order, from FirstID to LastID (the newest job when it was created: jobs
// enqueued later are left alone); Cursor is the last ID examined.
type BulkOperation struct {
	ID     int64      `json:"id"`
	Action BulkAction `json:"action"`
	Filter JobFilter  `json:"filter"`
	// TargetQueue is the queue BulkMove moves jobs to; empty otherwise.
	TargetQueue string    `json:"target_queue,omitempty"`
	State       BulkState `json:"state"`
	// Owner is the ID of the process that runs (or last ran) its batches.
	Owner string `json:"owner"`
	// FirstID and LastID bound the IDs it examines (both 0 when the store
	// held no job); Cursor is the last ID examined (FirstID-1 before the
	// first batch).
	FirstID int64 `json:"first_id"`
	LastID  int64 `json:"last_id"`
	Cursor  int64 `json:"cursor"`
	// Matched counts the jobs its batches found matching the filter,
	// Changed those the action changed, Skipped the others (their state
	// did not allow the action).
	Matched int64 `json:"matched"`
	Changed int64 `json:"changed"`
	Skipped int64 `json:"skipped"`
	// Batches counts the batches committed.
	Batches   int64     `json:"batches"`
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when its last batch committed (or its state changed);
	// its process refreshes it at least every few seconds while it runs.
	UpdatedAt         time.Time  `json:"updated_at"`
	FinishedAt        *time.Time `json:"finished_at,omitempty"`
	CancelRequestedAt *time.Time `json:"cancel_requested_at,omitempty"`
	Error             string     `json:"error,omitempty"`
}

// Done reports whether the operation ended (completed, cancelled or
// failed): an interrupted one may still resume.
func (o *BulkOperation) Done() bool {
	return o.State == BulkCompleted || o.State == BulkCancelled || o.State == BulkFailed
}

// Progress returns the share of its ID range examined, from 0 to 1 (1 once
// completed).
func (o *BulkOperation) Progress() float64 {
	if o.State == BulkCompleted || o.LastID < o.FirstID || o.LastID == 0 {
		if o.State == BulkCompleted {
			return 1
		}
		return 0
	}
	done := float64(o.Cursor-o.FirstID+1) / float64(o.LastID-o.FirstID+1)
	return min(max(done, 0), 1)
}

// Describe returns the action in words: "retry", "move to queue X".
func (o *BulkOperation) Describe() string {
	if o.Action == BulkMove {
		return fmt.Sprintf("move to queue %q", o.TargetQueue)
	}
	return string(o.Action)
}
