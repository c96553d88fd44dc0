package kiln

import (
	"errors"
	"time"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/kilntype"
)

// Errors returned by the client. Stores' sentinel errors are re-exported so
// that callers need import only this package. Test with errors.Is.
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
