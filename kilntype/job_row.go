package kilntype

import (
	"encoding/json"
	"time"
)

// JobRow is a job as it is stored. All times are UTC. A JobRow returned by a
// store is a copy: changing it changes nothing in the store. The rows of
// one read (a claim, a listing) may point to the same value for equal
// times (AttemptedAt, LeaseExpiresAt, ...): set such a field to a pointer
// of your own rather than write through it.
type JobRow struct {
	// ID is the job's identifier, unique within its store, assigned at
	// enqueue and increasing with enqueue order.
	ID int64 `json:"id"`
	// Kind names the job's type: the value of its args' Kind method. It
	// selects the worker that runs the job.
	Kind string `json:"kind"`
	// Queue is the queue the job runs in ("default" unless set).
	Queue string `json:"queue"`
	// Args is the job's arguments, encoded as JSON when it was enqueued.
	// It is nil when a list cut them (ArgsTruncated): see ArgsPreview.
	Args json.RawMessage `json:"args"`
	// ArgsBytes is the length in bytes of the args' JSON text as the store
	// returns it: len(Args), or the full length when a list cut them.
	ArgsBytes int `json:"args_bytes"`
	// ArgsTruncated reports that a list read only the beginning of the
	// args (kiln.JobListParams.ArgsPreview): Args is nil and ArgsPreview
	// holds that beginning. Get the job by ID for the whole args.
	ArgsTruncated bool `json:"args_truncated,omitempty"`
	// ArgsPreview is the beginning of the args' JSON text when
	// ArgsTruncated, at most the preview length asked for, cut at a UTF-8
	// character boundary: not valid JSON. Empty otherwise.
	ArgsPreview string `json:"args_preview,omitempty"`
	// ArgsEncrypted reports that the job's args are stored encrypted
	// (kiln.Encryptor). A client that holds the key returns them
	// decrypted in Args; one that does not returns, in Args (or in
	// ArgsPreview when a list cut them), a redacted stand-in:
	// {"kiln_enc":{"kid":"<key ID>","redacted":true}}. Lists redact args
	// whose encrypted form was cut, whoever asks.
	ArgsEncrypted bool `json:"args_encrypted,omitempty"`
	// State is where the job is in its life cycle.
	State JobState `json:"state"`
	// Priority orders available jobs within a queue: 1 runs first, 4 last
	// (River's range). Jobs of equal priority run in ScheduledAt order.
	Priority int `json:"priority"`
	// Attempt is the number of attempts started so far (0 before the first
	// run). A snoozed or interrupted attempt is not counted.
	Attempt int `json:"attempt"`
	// MaxAttempts is the number of attempts after which a failing job is
	// discarded instead of retried.
	MaxAttempts int `json:"max_attempts"`
	// CreatedAt is when the job was enqueued.
	CreatedAt time.Time `json:"created_at"`
	// ScheduledAt is when the job becomes due: its run-at time, or the time
	// its backoff or snooze gives. Jobs that are due run in this order.
	ScheduledAt time.Time `json:"scheduled_at"`
	// AttemptedAt is when the latest attempt started; nil before the first.
	AttemptedAt *time.Time `json:"attempted_at,omitempty"`
	// FinalizedAt is when the job reached a final state; nil before.
	FinalizedAt *time.Time `json:"finalized_at,omitempty"`
	// LeasedBy is the ID of the process that holds the job's lease while it
	// is running; empty otherwise.
	LeasedBy string `json:"leased_by,omitempty"`
	// LeaseExpiresAt is when the running job's lease ends unless its process
	// renews it by heartbeat; after that the rescuer may take the job back.
	LeaseExpiresAt *time.Time `json:"lease_expires_at,omitempty"`
	// CancelRequestedAt is when a cancel was requested for the running job;
	// the process that runs it cancels the job's context when it sees it.
	CancelRequestedAt *time.Time `json:"cancel_requested_at,omitempty"`
	// Tags are free-form labels set at enqueue, for filtering.
	Tags []string `json:"tags"`
	// Metadata is a JSON object set at enqueue; never nil (at least {}).
	// MetadataValue and MetadataMap read it without decoding it yourself.
	Metadata json.RawMessage `json:"metadata"`
	// UniqueKey is set for jobs enqueued with unique options: no other job
	// with the same key exists in a non-final state.
	UniqueKey string `json:"unique_key,omitempty"`
	// Partition is the job's partition key: the tenant, customer or
	// resource its kind's per-key flow control groups it by (per-key
	// concurrency limits, fair claims, per-key rate limits); "" means no
	// key. It is set at enqueue (kiln.EnqueueOpts.Partition, or the args'
	// kiln.Partitioner method) and never changes: at most
	// MaxPartitionKeyBytes bytes of UTF-8 without NUL.
	Partition string `json:"partition,omitempty"`
	// LastError is the error message of the latest failed attempt, if any.
	LastError string `json:"last_error,omitempty"`
	// Progress is how far the job's latest attempt said it got, in percent
	// (0 to 100), through Job.Progress (as Hangfire.Console's progress
	// bars); nil when that attempt has reported none, or before the first
	// attempt. A retried job's progress is its failed attempt's until the
	// new attempt reports.
	Progress *int `json:"progress,omitempty"`
	// Output is what the worker recorded as the job's result
	// (kiln.Job.SetOutput), as JSON, written when its attempt completed
	// the job; nil when none was recorded. Only a job read by ID (JobGet)
	// carries it: lists leave it nil. When an Encryptor was set, it is
	// stored encrypted (OutputEncrypted) and a client returns it as it
	// returns encrypted args: decrypted, or redacted without the key.
	Output json.RawMessage `json:"output,omitempty"`
	// OutputEncrypted reports that Output is stored encrypted
	// (kiln.Encryptor).
	OutputEncrypted bool `json:"output_encrypted,omitempty"`
}

// AttemptOutcome is how one attempt of a job ended.
type AttemptOutcome string

const (
	// AttemptRunning is an attempt that has not ended yet.
	AttemptRunning AttemptOutcome = "running"
	// AttemptSucceeded is an attempt whose worker returned nil.
	AttemptSucceeded AttemptOutcome = "succeeded"
	// AttemptFailed is an attempt whose worker returned an error, panicked,
	// timed out, or whose args did not decode.
	AttemptFailed AttemptOutcome = "failed"
	// AttemptCancelled is an attempt that ended the job by cancellation.
	AttemptCancelled AttemptOutcome = "cancelled"
	// AttemptSnoozed is an attempt whose worker asked to run later; it does
	// not count against MaxAttempts.
	AttemptSnoozed AttemptOutcome = "snoozed"
	// AttemptInterrupted is an attempt stopped by a shutdown or lost with its
	// process (lease expired); an interrupted shutdown attempt does not
	// count against MaxAttempts, a lost one does.
	AttemptInterrupted AttemptOutcome = "interrupted"
)

// JobAttempt is the record of one execution of a job: its history entry,
// as Hangfire's state history.
type JobAttempt struct {
	// JobID is the job the attempt belongs to.
	JobID int64 `json:"job_id"`
	// Attempt is the attempt's number, from 1. A snoozed or interrupted
	// attempt keeps the number the next attempt will reuse.
	Attempt int `json:"attempt"`
	// StartedAt is when the worker was called (UTC).
	StartedAt time.Time `json:"started_at"`
	// FinishedAt is when the attempt ended (UTC); nil while it runs.
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Server is the ID of the process that ran the attempt.
	Server string `json:"server"`
	// Outcome is how the attempt ended.
	Outcome AttemptOutcome `json:"outcome"`
	// Error is the error message of a failed or cancelled attempt.
	Error string `json:"error,omitempty"`
	// Trace is a trimmed stack trace, for attempts that panicked.
	Trace string `json:"trace,omitempty"`
}
