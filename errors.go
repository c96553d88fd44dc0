package kiln

import (
	"errors"
	"time"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/kilntype"
)

// Errors returned by the client. Stores' sentinel errors are re-exported
// from kilntype so that callers need import only this package. Test with
// errors.Is.
var (
	// ErrNotFound: no job with the given ID exists.
	ErrNotFound = kilntype.ErrNotFound
	// ErrJobRunning: the job is running; cancel it first.
	ErrJobRunning = kilntype.ErrJobRunning
	// ErrJobState: the job's state does not allow the operation.
	ErrJobState = kilntype.ErrJobState
	// ErrSchemaMissing: the store needs `kiln migrate`.
	ErrSchemaMissing = kilntype.ErrSchemaMissing
	// ErrUnknownKind: a job was enqueued with a kind that has no worker in
	// this client's Workers (the error names the kind).
	ErrUnknownKind = errors.New("unknown job kind")
	// ErrStopTimeout: Stop's context ended and some workers or hosted
	// services ignored their cancelled contexts; the jobs were put back to
	// available, but those goroutines are still running.
	ErrStopTimeout = errors.New("workers or hosted services did not return after cancel")
)

// The causes a job's context is cancelled with, one per reason a running
// attempt is stopped. A worker tells them apart with context.Cause:
//
//	if errors.Is(context.Cause(ctx), kiln.ErrJobTimeout) { ... }
//
// ctx.Err() only says context.Canceled (or context.DeadlineExceeded for a
// timeout). When Work returns an error once its context is done, the
// attempt is recorded as the cause says; a nil return still completes the
// job (except after ErrLeaseLost, whose outcome is ignored).
var (
	// ErrJobTimeout: the attempt ran past its timeout (Worker.Timeout, or
	// Config.JobTimeout). The attempt fails, and is retried as any failure;
	// its error reads "kiln: job timed out (...)".
	ErrJobTimeout = jobexec.ErrTimeout
	// ErrJobCancelRequested: the job was cancelled (Client.JobCancel, from
	// any process sharing the store). The job ends cancelled.
	ErrJobCancelRequested = jobexec.ErrCancelRequested
	// ErrShutdown: the client is stopping (Stop's context ended, or
	// StopAndCancel). The job goes back to available without using an
	// attempt, and runs again later.
	ErrShutdown = jobexec.ErrShutdown
	// ErrLeaseLost: this process no longer holds the job's lease (it was
	// rescued after its lease expired, and maybe claimed again): the job's
	// outcome is ignored, and its progress and log writes are refused with
	// an error wrapping ErrLeaseLost.
	ErrLeaseLost = jobexec.ErrLeaseLost
)

// JobCancel wraps err in an error that, returned from Work, cancels the job
// for good: it is not retried, whatever attempts remain. The job ends in the
// cancelled state with err recorded. err may be nil.
func JobCancel(err error) error { return &jobexec.CancelError{Err: err} }

// JobSnooze returns an error that, returned from Work, runs the job again
// after d (in the scheduled state until then) without using an attempt: for
// work that is not ready yet, as River's JobSnooze. d must be positive; a
// smaller value snoozes for one second.
func JobSnooze(d time.Duration) error {
	return &jobexec.SnoozeError{Duration: max(d, time.Second)}
}
