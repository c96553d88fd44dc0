package kilntype

// JobState is the state of a job in its life cycle. The states and the moves
// between them are described in docs/ARCHITECTURE.md:
//
//	scheduled ──(due)──▶ available ──(claimed)──▶ running ──▶ completed
//	     ▲                   ▲                       │
//	     │ snooze            │ stop / retry now      ├──▶ retryable ──(due)──▶ running
//	     └───────────────────┴───────────────────────┤
//	                                                 ├──▶ cancelled (JobCancel, Client.JobCancel)
//	                                                 └──▶ discarded (attempts exhausted)
type JobState string

const (
	// JobStateScheduled is a job that waits for its ScheduledAt time: it was
	// enqueued with RunAt/RunIn, or snoozed.
	JobStateScheduled JobState = "scheduled"
	// JobStateAvailable is a job ready to be claimed by a worker.
	JobStateAvailable JobState = "available"
	// JobStateRunning is a job claimed by a process, which holds its lease.
	JobStateRunning JobState = "running"
	// JobStateRetryable is a job whose last attempt failed and that will run
	// again at ScheduledAt (the time its backoff gives).
	JobStateRetryable JobState = "retryable"
	// JobStateCompleted is a job whose last attempt succeeded. Final.
	JobStateCompleted JobState = "completed"
	// JobStateCancelled is a job that was cancelled by a user or that asked to
	// stop retrying with kiln.JobCancel. Final, but may be retried by hand.
	JobStateCancelled JobState = "cancelled"
	// JobStateDiscarded is a job that failed its last allowed attempt. Final,
	// but may be retried by hand. Its attempts and errors are kept.
	JobStateDiscarded JobState = "discarded"
	// JobStatePending is reserved for jobs that wait for something other than
	// time (continuations, batches). No state machine enters it yet.
	JobStatePending JobState = "pending"
)

// JobStates lists every state, in life-cycle order.
func JobStates() []JobState {
	return []JobState{
		JobStatePending, JobStateScheduled, JobStateAvailable, JobStateRunning,
		JobStateRetryable, JobStateCompleted, JobStateCancelled, JobStateDiscarded,
	}
}

// Finalized reports whether s is a final state: completed, cancelled or
// discarded. A finalized job never runs again unless retried by hand.
func (s JobState) Finalized() bool {
	return s == JobStateCompleted || s == JobStateCancelled || s == JobStateDiscarded
}

// Valid reports whether s is one of the states listed by JobStates.
func (s JobState) Valid() bool {
	for _, v := range JobStates() {
		if s == v {
			return true
		}
	}
	return false
}
