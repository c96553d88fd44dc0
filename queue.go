package kiln

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// QueueRow is one queue as every process sharing the store sees it: whether
// it is paused, and how many of its jobs wait or run. Times are UTC.
type QueueRow struct {
	Name   string `json:"name"`   // the queue's name
	Paused bool   `json:"paused"` // set by QueuePause: no process claims its jobs
	// UpdatedAt is when the queue was last paused or resumed; nil if never.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`

	// Available, Scheduled, Running and Retryable count the queue's jobs
	// in each of those states.
	Available int `json:"available"`
	Scheduled int `json:"scheduled"`
	Running   int `json:"running"`
	Retryable int `json:"retryable"`
	// OldestAvailableAt is the ScheduledAt of the available job that has
	// been due the longest (the queue's latency is Now minus it); nil when
	// no job is available.
	OldestAvailableAt *time.Time `json:"oldest_available_at,omitempty"`
}

// QueuePause pauses the queue name for every process sharing the store: no
// process starts a job of the queue until it is resumed, whatever its
// Config.Queues. Jobs already running finish (a retry of one waits), and
// enqueues into the queue still succeed: the jobs wait in the available or
// scheduled state. A claim already under way when the pause is made may
// still start its jobs; every claim that begins after QueuePause returns
// honours it. A queue can be paused before it has jobs, and pausing a
// paused queue does nothing. The pause is stored, so it outlives the
// processes: a process started later does not run the queue either. A
// name that is not a valid queue name (see EnqueueOpts.Queue) gives a
// *ValidationError for field "name".
func (c *Client) QueuePause(ctx context.Context, name string) error {
	return c.queueSetPaused(ctx, name, true)
}

// QueueResume resumes the queue name, paused with QueuePause by this
// process or another: this process's fetcher for the queue, if it runs
// one, looks for jobs at once, and other processes at their next poll
// (Config.FetchPollInterval). Resuming a queue that is not paused does
// nothing.
func (c *Client) QueueResume(ctx context.Context, name string) error {
	if err := c.queueSetPaused(ctx, name, false); err != nil {
		return err
	}
	c.wake(name)
	return nil
}

// queueSetPaused pauses or resumes the queue name in the store.
func (c *Client) queueSetPaused(ctx context.Context, name string, paused bool) error {
	what := "resume queue"
	if paused {
		what = "pause queue"
	}
	if err := validateQueue("name", name); err != nil {
		return fmt.Errorf("kiln: %s: %w", what, err)
	}
	if err := c.cfg.Store.QueuePause(ctx, &store.QueuePauseParams{Name: name, Paused: paused, Now: c.now()}); err != nil {
		return fmt.Errorf("kiln: %s %q: %w", what, name, err)
	}
	c.audit(ctx, map[bool]string{true: AuditQueuePause, false: AuditQueueResume}[paused], name, nil)
	return nil
}

// QueueList returns the queues of every process sharing the store, ordered
// by name: each queue that holds an available, scheduled, running or
// retryable job, or that has ever been paused, with whether it is paused
// and its count of jobs in each of those states (read in one snapshot),
// and the ScheduledAt of its oldest available job (the queue's latency is
// the time since). The SQLite and PostgreSQL stores read the counts from
// the job counters they keep, and the oldest available job
// with a few index seeks per queue: the time grows with the queues, not
// with the jobs, so a dashboard may poll it every second.
func (c *Client) QueueList(ctx context.Context) ([]*QueueRow, error) {
	rows, err := c.cfg.Store.QueueList(ctx)
	if err != nil {
		return nil, fmt.Errorf("kiln: list queues: %w", err)
	}
	out := make([]*QueueRow, len(rows))
	for i, r := range rows {
		out[i] = (*QueueRow)(r)
	}
	return out, nil
}
