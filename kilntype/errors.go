package kilntype

import "errors"

// Sentinel errors returned by stores and by the client. Test for them with
// errors.Is. They are always wrapped with what was being attempted (e.g.
// "kiln: get job 7: sqlite: get job: not found"), so they carry no prefix.
var (
	// ErrNotFound: no job (or other entity) with the given ID exists.
	ErrNotFound = errors.New("not found")
	// ErrJobRunning: the operation is not allowed while the job is running
	// (for example delete); cancel it first.
	ErrJobRunning = errors.New("job is running")
	// ErrJobState: the job is not in a state that allows the operation (for
	// example retrying a job that is already available). Maps to HTTP 409.
	ErrJobState = errors.New("job state does not allow this")
	// ErrSchemaMissing: the store's tables do not exist or are older than
	// this version of Kiln; run `kiln migrate` (or Store.Migrate).
	ErrSchemaMissing = errors.New("schema missing or out of date: run `kiln migrate`")
)
