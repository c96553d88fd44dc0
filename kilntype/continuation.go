package kilntype

import "time"

// ParentFailurePolicy says what a continuation (a job that waits for parent
// jobs) does when a parent ends without completing: cancelled, discarded, or
// deleted before it finished.
type ParentFailurePolicy string

const (
	// ParentFailureCancel cancels the child, with an error naming the parent
	// and its state: the default, as Hangfire's continuations run only after
	// their parent succeeded.
	ParentFailureCancel ParentFailurePolicy = "cancel"
	// ParentFailureRun runs the child anyway once every parent has ended
	// (Hangfire's JobContinuationOptions.OnAnyFinishedState).
	ParentFailureRun ParentFailurePolicy = "run"
)

// Valid reports whether p is one of the policies above.
func (p ParentFailurePolicy) Valid() bool { return p == ParentFailureCancel || p == ParentFailureRun }

// BatchRow is a batch of jobs and its progress.
type BatchRow struct {
	// ID is the batch's identifier, chosen at enqueue.
	ID string `json:"id"`
	// CreatedAt is when the batch was enqueued (UTC).
	CreatedAt time.Time `json:"created_at"`
	// Total is the number of jobs in the batch, its callback excluded.
	Total int `json:"total"`
	// Counts is the number of the batch's jobs in each state; jobs deleted
	// since (by retention) are not counted.
	Counts map[JobState]int `json:"counts"`
	// CallbackJobID is the job that runs once every job of the batch has
	// ended, or 0 if the batch has none.
	CallbackJobID int64 `json:"callback_job_id,omitempty"`
}

// Finished reports whether every job of the batch still stored is
// finalized.
func (b *BatchRow) Finished() bool {
	n := 0
	for state, c := range b.Counts {
		if state.Finalized() {
			n += c
		}
	}
	total := 0
	for _, c := range b.Counts {
		total += c
	}
	return n == total
}
