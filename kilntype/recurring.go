package kilntype

import (
	"encoding/json"
	"time"
)

// OverlapPolicy says what a recurring entry does when an occurrence comes
// while the job of an earlier occurrence has not finished. The occurrences
// that one pass of the scheduler enqueues together (a catch-up after a
// restart or a failover, as the MisfirePolicy picks them) are not each
// other's overlap: under OverlapSkip and OverlapQueueOne they run one
// after another, each job pending until the one before it has ended.
type OverlapPolicy string

const (
	// OverlapSkip skips the new occurrence while an earlier run of the entry
	// is not finished (pending, scheduled, available, running or
	// retryable): the default, as Puck's dispatcher never overlaps a task
	// and Hangfire's DisableConcurrentExecution intends.
	OverlapSkip OverlapPolicy = "skip"
	// OverlapAllow enqueues every occurrence, so runs may overlap.
	OverlapAllow OverlapPolicy = "allow"
	// OverlapQueueOne enqueues the new occurrence while at most one earlier
	// run is unfinished and it is running, and makes it wait (pending) until
	// that run has ended: one run at a time plus one waiting, never a pile.
	OverlapQueueOne OverlapPolicy = "queue_one"
)

// Valid reports whether p is one of the policies above.
func (p OverlapPolicy) Valid() bool {
	return p == OverlapSkip || p == OverlapAllow || p == OverlapQueueOne
}

// MisfirePolicy says what a recurring entry does with occurrences that were
// missed because no scheduler ran at their time (every process was down).
type MisfirePolicy string

const (
	// MisfireRunOnce runs one job now for all the missed occurrences (the
	// latest one), then follows the schedule: the default, as Hangfire's
	// Relaxed mode.
	MisfireRunOnce MisfirePolicy = "run_once"
	// MisfireSkip drops the missed occurrences and waits for the next one.
	MisfireSkip MisfirePolicy = "skip"
	// MisfireRunAll runs one job for every missed occurrence, up to the
	// entry's cap (the latest ones), as Hangfire's Strict mode.
	MisfireRunAll MisfirePolicy = "run_all"
)

// Valid reports whether p is one of the policies above.
func (p MisfirePolicy) Valid() bool {
	return p == MisfireRunOnce || p == MisfireSkip || p == MisfireRunAll
}

// RecurringRow is a recurring entry as it is stored: a schedule and the job
// to enqueue at each of its occurrences. All times are UTC.
type RecurringRow struct {
	// ID is the user-chosen identifier (Hangfire's recurring job id).
	ID string `json:"id"`
	// Schedule is the canonical schedule spec (see package schedule).
	Schedule string `json:"schedule"`
	// TimeZone is the IANA zone cron fields are read in; "" means UTC.
	TimeZone string `json:"time_zone"`
	// Kind, Args, Queue, Priority, MaxAttempts, Tags and Metadata describe
	// the job enqueued at each occurrence.
	Kind string          `json:"kind"`
	Args json.RawMessage `json:"args"`
	// ArgsEncrypted reports that the entry's args are stored encrypted, as
	// JobRow.ArgsEncrypted does for a job's (decrypted or redacted alike).
	ArgsEncrypted bool            `json:"args_encrypted,omitempty"`
	Queue         string          `json:"queue"`
	Priority      int             `json:"priority"`
	MaxAttempts   int             `json:"max_attempts"`
	Tags          []string        `json:"tags"`
	Metadata      json.RawMessage `json:"metadata"`
	// Partition is the partition key of every job the entry enqueues
	// (JobRow.Partition: per-key limits, fair claims, per-key rate
	// limits); "" means none.
	Partition string `json:"partition,omitempty"`
	// Overlap and Misfire are the entry's policies; MisfireMax caps the
	// occurrences MisfireRunAll catches up on.
	Overlap    OverlapPolicy `json:"overlap"`
	Misfire    MisfirePolicy `json:"misfire"`
	MisfireMax int           `json:"misfire_max"`
	// Paused entries enqueue nothing until resumed.
	Paused bool `json:"paused"`
	// NextRunAt is the next occurrence the scheduler will act on.
	NextRunAt time.Time `json:"next_run_at"`
	// LastRunAt is the occurrence time of the latest enqueued job, LastJobID
	// that job; nil and 0 before the first.
	LastRunAt *time.Time `json:"last_run_at,omitempty"`
	LastJobID int64      `json:"last_job_id,omitempty"`
	// LastError says why the latest occurrence enqueued nothing, when it
	// was not for an expected reason (e.g. no worker for the kind).
	LastError string    `json:"last_error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}
