package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/store"
)

var _ store.QueueStore = (*Store)(nil)

// sqlQueuePause pauses queue $1 at $2, unless it already is paused.
const sqlQueuePause = `INSERT INTO {s}.kiln_queue (name, paused, updated_at) VALUES ($1, true, $2)
ON CONFLICT (name) DO UPDATE SET paused = true, updated_at = excluded.updated_at
WHERE NOT kiln_queue.paused`

// sqlQueueResume resumes queue $1 at $2 if it is paused; a queue without a
// row is not paused and gets none.
const sqlQueueResume = `UPDATE {s}.kiln_queue SET paused = false, updated_at = $2
WHERE name = $1 AND paused`

// sqlQueueList returns, in one snapshot, rows of (queue, what, count, at):
//
//   - "available": the queue's available jobs and the earliest scheduled_at
//     among them, from kiln_job_claim_available, whose entries hold both
//     columns (an index-only scan, as far as the visibility map allows);
//   - "waiting": its scheduled and retryable jobs together, from
//     kiln_job_claim_waiting (or kiln_job_due: the planner picks; the two
//     hold the same jobs and neither holds the state that tells the two
//     apart);
//   - "running" and "retryable": read through kiln_job_state, one heap
//     fetch per job (running jobs are at most the workers of the processes;
//     retryable jobs are few unless a failure is widespread);
//   - "paused": from kiln_queue, count 1 when paused, 0 when resumed, at
//     its updated_at.
//
// Scheduled jobs are "waiting" minus "retryable". Pending and finalized
// jobs are not read.
const sqlQueueList = `SELECT queue, 'available', count(*), min(scheduled_at) FROM {s}.kiln_job
	WHERE state = 'available' GROUP BY queue
UNION ALL
SELECT queue, 'waiting', count(*), NULL FROM {s}.kiln_job
	WHERE state IN ('scheduled', 'retryable') GROUP BY queue
UNION ALL
SELECT queue, state, count(*), NULL FROM {s}.kiln_job
	WHERE state IN ('running', 'retryable') GROUP BY queue, state
UNION ALL
SELECT name, 'paused', paused::int, updated_at FROM {s}.kiln_queue`

// QueuePause pauses (params.Paused) or resumes the queue params.Name, as
// [store.QueueStore] says. A claim that began before the pause committed
// may still take the queue's jobs; every claim that begins after does not.
func (s *Store) QueuePause(ctx context.Context, params *store.QueuePauseParams) error {
	verb, query := "resume", sqlQueueResume
	if params.Paused {
		verb, query = "pause", sqlQueuePause
	}
	if params.Name == "" {
		return fail(verb+" queue", errors.New("empty queue name"))
	}
	if _, err := s.pool.Exec(ctx, s.sql(query), params.Name, truncate(params.Now)); err != nil {
		return fail(verb+" queue "+params.Name, err)
	}
	return nil
}

// QueueList returns every queue that has been paused or holds an
// available, scheduled, running or retryable job, by name (bytewise), with
// its counts, read in one statement (one snapshot). Its cost is linear in
// the jobs counted (see sqlQueueList), not in the finalized jobs kept.
func (s *Store) QueueList(ctx context.Context) ([]*store.QueueRow, error) {
	rows, err := s.pool.Query(ctx, s.sql(sqlQueueList))
	if err != nil {
		return nil, fail("list queues", err)
	}
	var (
		queues     = map[string]*store.QueueRow{}
		waiting    = map[string]int{}
		name, what string
		n          int
		at         *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &what, &n, &at}, func() error {
		q := queues[name]
		if q == nil {
			q = &store.QueueRow{Name: name}
			queues[name] = q
		}
		switch what {
		case "available":
			q.Available, q.OldestAvailableAt = n, utcPtr(at)
		case "waiting":
			waiting[name] = n
		case "running":
			q.Running = n
		case "retryable":
			q.Retryable = n
		case "paused":
			q.Paused, q.UpdatedAt = n == 1, utcPtr(at)
		}
		return nil
	})
	if err != nil {
		return nil, fail("list queues", err)
	}
	out := make([]*store.QueueRow, 0, len(queues))
	for _, q := range queues {
		q.Scheduled = waiting[q.Name] - q.Retryable
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b *store.QueueRow) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
