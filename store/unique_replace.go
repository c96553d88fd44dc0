package store

import "github.com/kilnjobs/kiln/kilntype"

// UniqueReplace says what an insert whose unique key is held by a waiting
// job changes on that job (JobInsertParams.UniqueReplace). Both stores
// apply it in the insert's transaction, with the job locked (PostgreSQL:
// the UPDATE's row lock, which a concurrent claim's SKIP LOCKED passes
// over; SQLite: the single writer), and only while the job is available,
// scheduled or retryable: a job claimed meanwhile is left alone and the
// result is a plain UniqueSkipped. Of concurrent replacing inserts, the
// last to commit wins.
type UniqueReplace struct {
	// Args replaces the job's args and partition key with the param's.
	Args bool
	// Schedule replaces the job's ScheduledAt with the param's, and its
	// state with the param's (available or scheduled), except that a
	// retryable job stays retryable (due at the new time).
	Schedule bool
}

// Any reports whether r replaces anything.
func (r UniqueReplace) Any() bool { return r.Args || r.Schedule }

// Replaceable reports whether a job in state may be changed by a
// replacing insert: it is waiting (available, scheduled or retryable).
func Replaceable(state kilntype.JobState) bool {
	return state == kilntype.JobStateAvailable || state == kilntype.JobStateScheduled || state == kilntype.JobStateRetryable
}
