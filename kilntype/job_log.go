package kilntype

import "time"

// JobLogLine is one line a worker logged for its job through Job.Log or
// Job.Logf (as Hangfire.Console's lines, kept with the job): readable by
// any process sharing the store, while the job runs and after, until the
// job is deleted. Only the newest lines of a job are kept (the client keeps
// 1,000), each at most 2 KiB.
type JobLogLine struct {
	// JobID is the job the line belongs to.
	JobID int64 `json:"job_id"`
	// Seq numbers the job's lines from 1 in the order they were logged,
	// across attempts. Numbers are never reused: when older lines are
	// dropped, the first kept line's Seq is above 1. Pass the last Seq you
	// read as AfterSeq to read only the lines logged since.
	Seq int64 `json:"seq"`
	// Attempt is the number of the attempt that logged the line (from 1).
	Attempt int `json:"attempt"`
	// At is when the worker logged the line (the client's clock, UTC, to
	// the microsecond).
	At time.Time `json:"at"`
	// Message is the line's text: valid UTF-8 without NUL bytes; it may
	// span several lines of text.
	Message string `json:"message"`
}
