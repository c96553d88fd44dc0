package kiln

import "github.com/kilnjobs/kiln/kilntype"

// JobArgs is implemented by every job's args type. Args are encoded as JSON
// when the job is enqueued (as Hangfire serializes arguments when a job is
// scheduled), so they must survive encoding/json: exported fields, no
// channels or funcs. Kind names the job's type; it must be stable across
// deploys, since it is stored with the job and selects its worker.
type JobArgs interface {
	Kind() string
}

// Job is one job as its worker sees it: the stored row plus its args decoded
// into the worker's type. A Job is only valid during its Work call.
type Job[T JobArgs] struct {
	*kilntype.JobRow
	// Args is the job's args, decoded from JSON.
	Args T
}

// JobRow is the stored form of a job, re-exported from kilntype.
type JobRow = kilntype.JobRow

// JobAttempt is one attempt in a job's history, re-exported from kilntype.
type JobAttempt = kilntype.JobAttempt

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
