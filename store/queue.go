package store

import (
	"context"
	"slices"
	"strings"
	"time"
)

// QueueStore is the part of Store that pauses and resumes queues for every
// process sharing the database, and reports per-queue counts.
//
// A store must honour pauses in JobClaim: a claim
// of a paused queue returns no job, whichever process or Store paused it.
// Pausing does not touch jobs: running jobs finish, and inserts into a
// paused queue succeed.
type QueueStore interface {
	// QueuePause pauses (Paused true) or resumes (Paused false) the queue
	// Name, whether or not it has jobs, and sets its UpdatedAt to Now. A
	// queue that already is as asked is left unchanged, UpdatedAt included:
	// pausing twice keeps the first pause's time, and resuming a queue that
	// was never paused does nothing. A pause takes effect at the next claim
	// of any process; claims already under way finish. An empty Name gives
	// an error.
	QueuePause(ctx context.Context, params *QueuePauseParams) error
	// QueueList returns, ordered by name (bytewise), every queue that has
	// been paused at least once (resumed since or not) or that holds an
	// available, scheduled, running or retryable job, with its counts of
	// such jobs, read in one snapshot. Pending and finalized jobs are not
	// counted, and the cost must not grow with the history kept (the
	// SQLite and PostgreSQL stores read counters, and seek the oldest
	// available job of each priority: their cost does not grow with the
	// jobs at all).
	QueueList(ctx context.Context) ([]*QueueRow, error)
}

// QueuePauseParams pauses or resumes one queue.
type QueuePauseParams struct {
	Name   string
	Paused bool // true pauses, false resumes
	Now    time.Time
}

// QueueRow is one queue: whether it is paused and how many of its jobs wait
// or run. The counts are those of the states: a scheduled or retryable job
// whose time has come is counted as such until the promoter makes it
// available (within about a second), though it may already be claimed.
type QueueRow struct {
	Name   string `json:"name"`
	Paused bool   `json:"paused"`
	// UpdatedAt is when the queue was last paused or resumed; nil if never.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`

	Available int `json:"available"`
	Scheduled int `json:"scheduled"`
	Running   int `json:"running"`
	Retryable int `json:"retryable"`
	// OldestAvailableAt is the ScheduledAt of the available job that has
	// been due the longest (the queue's latency is Now minus it); nil when
	// no job is available.
	OldestAvailableAt *time.Time `json:"oldest_available_at,omitempty"`
}

// QueueRows builds QueueList's result from the facts a backend reads, one
// per row of its query. The zero value is ready to use.
type QueueRows struct {
	byName map[string]*QueueRow
}

// Add records one fact about queue name: what is "available", "scheduled",
// "running" or "retryable" (n is the count), "oldest" (at is
// OldestAvailableAt) or "paused" (n is 1 when paused, at is UpdatedAt).
// Unknown facts are ignored. at must be UTC or nil.
func (b *QueueRows) Add(name, what string, n int, at *time.Time) {
	if b.byName == nil {
		b.byName = map[string]*QueueRow{}
	}
	q := b.byName[name]
	if q == nil {
		q = &QueueRow{Name: name}
		b.byName[name] = q
	}
	switch what {
	case "available":
		q.Available = n
	case "scheduled":
		q.Scheduled = n
	case "running":
		q.Running = n
	case "retryable":
		q.Retryable = n
	case "oldest":
		q.OldestAvailableAt = at
	case "paused":
		q.Paused, q.UpdatedAt = n == 1, at
	}
}

// Rows returns the queues, ordered by name (never nil).
func (b *QueueRows) Rows() []*QueueRow {
	out := make([]*QueueRow, 0, len(b.byName))
	for _, q := range b.byName {
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b *QueueRow) int { return strings.Compare(a.Name, b.Name) })
	return out
}
