package kilntype

import "math"

// The ranges of the integer fields of jobs and recurring entries. Every
// path into a store (kiln.Client, the HTTP API, the CLI, the dashboard, and
// the stores themselves) accepts exactly these, and every store holds them
// exactly: PostgreSQL keeps them in integer columns, whose range is int32's.
const (
	// PriorityHighest and PriorityLowest bound JobRow.Priority: 1 runs
	// first, 4 last.
	PriorityHighest = 1
	PriorityLowest  = 4
	// MaxAttemptsLimit is the largest JobRow.MaxAttempts: 2,147,483,647
	// (the smallest is 1).
	MaxAttemptsLimit = math.MaxInt32
	// MisfireMaxLimit is the largest RecurringRow.MisfireMax: at most this
	// many missed occurrences are caught up at once, as many jobs as one
	// batch enqueue of the HTTP API holds.
	MisfireMaxLimit = 10_000
	// MaxPartitionKeyBytes is the longest JobRow.Partition, in bytes of
	// UTF-8: long enough for a UUID, an e-mail address or a URL's host,
	// short enough that the indexes of per-key claims stay small.
	MaxPartitionKeyBytes = 255
)

// ValidationError reports a value Kiln does not accept: an option out of
// its range, text that is not valid UTF-8 or holds NUL, JSON a store cannot
// keep exactly, args too large or that do not fit their kind's args type.
// Errors of kiln.Client's enqueue and recurring methods, of their checks,
// and of the stores' inserts wrap one; find it with errors.As. The HTTP API
// answers it with 400 and its Field, the dashboard shows it next to the
// field, the CLI names the flag.
type ValidationError struct {
	// Field names the value at fault, in the JSON spelling of the HTTP
	// API: "max_attempts", "priority", "queue", "kind", "tags[2]",
	// "metadata", "args", a field inside the args ("args.name"),
	// "run_at", "id", "misfire_max".
	Field string
	// Message says what is wrong with the value and what is accepted, as
	// in "4294967297 is out of range 1 to 2147483647"; it may be empty
	// when Err says it.
	Message string
	// Err is the underlying error, such as the args' Validate error or
	// encoding/json's; nil when there is none.
	Err error
}

// Error returns "field: message", followed by ": " and Err's text when Err
// is set (Message may be empty when Err says it all).
func (e *ValidationError) Error() string {
	msg := e.Field + ": " + e.Message
	if e.Err != nil {
		if e.Message != "" {
			msg += ": "
		}
		msg += e.Err.Error()
	}
	return msg
}

// Unwrap returns Err.
func (e *ValidationError) Unwrap() error { return e.Err }
