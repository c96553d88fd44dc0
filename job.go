package kiln

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/kilnjobs/kiln/internal/jobreport"
	"github.com/kilnjobs/kiln/kilntype"
)

// JobArgs is implemented by every job's args type. Args are encoded as JSON
// when the job is enqueued (as Hangfire serializes arguments when a job is
// scheduled), so they must survive encoding/json: exported fields, no
// channels or funcs. Kind names the job's type; it must be stable across
// deploys, since it is stored with the job and selects its worker.
type JobArgs interface {
	Kind() string
}

// Job is one job as its worker sees it: the stored row plus its args decoded
// into the worker's type. A Job is only valid during its Work call. Read
// the row's fields, never write through its time pointers (AttemptedAt,
// ...): they may be shared with the other jobs of its claim, and the
// engine reads AttemptedAt to write the attempt's outcome.
type Job[T JobArgs] struct {
	*JobRow
	// Args is the job's args, decoded from JSON.
	Args T

	report *jobreport.Lazy // nil for a Job not made by a client
	env    *jobEnv         // nil for a Job not made by a client
	// output is what SetOutput last recorded (encrypted when the client
	// encrypts), stored if the attempt completes the job.
	output atomic.Pointer[json.RawMessage]
}

// The bounds of what a job reports through [Job.Progress] and [Job.Log].
const (
	// JobLogMaxLines (1,000) is how many of a job's newest log lines are
	// kept, for all its attempts together; older lines are deleted as new
	// ones come.
	JobLogMaxLines = jobreport.MaxLines
	// JobLogMaxLineBytes (2,048) is the longest log line kept, in bytes of
	// UTF-8; a longer line is cut at a character boundary and ends with "…".
	JobLogMaxLineBytes = jobreport.MaxLineBytes
)

// Progress records how far the job's current attempt has got, in percent
// (0 to 100), for every process sharing the store to read in the job's
// JobRow.Progress (`kiln jobs show`, the dashboard), as Hangfire.Console's
// progress bars. Call it as often as is handy: writes are coalesced to at
// most one per job every 250 ms (a report made sooner is written when that
// time has passed), and the last value is written when Work returns. A
// value equal to the last written costs nothing.
//
// It returns an error if percent is outside 0 to 100, if Work has
// returned, if the job's lease is lost (wrapping [ErrLeaseLost]: stop
// working, the outcome will be ignored), or if the store failed a write
// made by this call (it is retried). A worker may ignore the error:
// progress is informative. A Job made outside a client (in a test)
// validates percent and records nothing.
func (j *Job[T]) Progress(ctx context.Context, percent int) error {
	return j.report.Progress(ctx, percent)
}

// Log appends message to the job's log, a line readable by every process
// sharing the store with [Client.JobLogs] while the job runs and after, as
// Hangfire.Console's lines. The line is dated by the client's clock and
// attributed to the current attempt. It is made valid UTF-8 without NUL
// bytes, stripped of trailing line breaks and cut to JobLogMaxLineBytes; a
// job keeps its JobLogMaxLines newest lines. Writes are coalesced with
// Progress's (at most one per job every 250 ms, the rest written when Work
// returns). Errors are as Progress's.
func (j *Job[T]) Log(ctx context.Context, message string) error {
	return j.report.Log(ctx, message)
}

// Logf is Log with a message formatted as fmt.Sprintf does.
func (j *Job[T]) Logf(ctx context.Context, format string, args ...any) error {
	return j.report.Log(ctx, fmt.Sprintf(format, args...))
}

// JobRow is the stored form of a job, re-exported from kilntype.
type JobRow = kilntype.JobRow

// JobAttempt is one attempt in a job's history, re-exported from kilntype.
type JobAttempt = kilntype.JobAttempt

// AttemptOutcome is how one attempt of a job ended (JobAttempt.Outcome),
// re-exported from kilntype.
type AttemptOutcome = kilntype.AttemptOutcome

// The attempt outcomes, re-exported from kilntype.
const (
	// AttemptRunning is an attempt that has not ended yet.
	AttemptRunning = kilntype.AttemptRunning
	// AttemptSucceeded is an attempt whose worker returned nil.
	AttemptSucceeded = kilntype.AttemptSucceeded
	// AttemptFailed is an attempt whose worker returned an error,
	// panicked, timed out, or whose args did not decode.
	AttemptFailed = kilntype.AttemptFailed
	// AttemptCancelled is an attempt that ended the job by cancellation.
	AttemptCancelled = kilntype.AttemptCancelled
	// AttemptSnoozed is an attempt whose worker asked to run later
	// (JobSnooze); it does not count against MaxAttempts.
	AttemptSnoozed = kilntype.AttemptSnoozed
	// AttemptInterrupted is an attempt stopped by a shutdown or lost with
	// its process (lease expired); an attempt interrupted by a shutdown
	// does not count against MaxAttempts, a lost one does.
	AttemptInterrupted = kilntype.AttemptInterrupted
)

// JobState is a job's state, re-exported from kilntype.
type JobState = kilntype.JobState

// The job states, re-exported from kilntype.
const (
	JobStatePending   = kilntype.JobStatePending
	JobStateScheduled = kilntype.JobStateScheduled
	JobStateAvailable = kilntype.JobStateAvailable
	JobStateRunning   = kilntype.JobStateRunning
	JobStateRetryable = kilntype.JobStateRetryable
	JobStateCompleted = kilntype.JobStateCompleted
	JobStateCancelled = kilntype.JobStateCancelled
	JobStateDiscarded = kilntype.JobStateDiscarded
)
