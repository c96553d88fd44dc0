package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/kilnjobs/kiln/store"
)

var _ store.QueueStore = (*Store)(nil)

// sqlQueuePause pauses queue ?1 at ?2, unless it already is paused.
const sqlQueuePause = `INSERT INTO kiln_queue (name, paused, updated_at) VALUES (?1, 1, ?2)
ON CONFLICT (name) DO UPDATE SET paused = 1, updated_at = ?2 WHERE paused = 0`

// sqlQueueResume resumes queue ?1 at ?2 if it is paused; a queue without a
// row is not paused and gets none.
const sqlQueueResume = `UPDATE kiln_queue SET paused = 0, updated_at = ?2 WHERE name = ?1 AND paused = 1`

// sqlQueueList returns, in one statement (one snapshot), rows of (queue,
// what, count, at):
//
//   - "available": the queue's available jobs and the earliest scheduled_at
//     among them, from a scan of kiln_job_claim_available, which covers
//     both columns: no table row is read;
//   - "waiting": its scheduled and retryable jobs together, from a scan of
//     kiln_job_claim_waiting. That index does not hold the state that tells
//     the two apart, and SQLite cannot see that the partial index implies
//     the IN term, so each entry costs a table row lookup too;
//   - "running" and "retryable": read through kiln_job_state, one table
//     row each (running jobs are at most the workers of the processes;
//     retryable jobs are few unless a failure is widespread);
//   - "paused": from kiln_queue, count 1 when paused, 0 when resumed, at
//     its updated_at.
//
// Scheduled jobs are "waiting" minus "retryable". Pending and finalized
// jobs are not read. TestQueueListPlan checks the plan.
const sqlQueueList = `SELECT queue, 'available', count(*), min(scheduled_at)
	FROM kiln_job INDEXED BY kiln_job_claim_available
	WHERE state = 'available' GROUP BY queue
UNION ALL
SELECT queue, 'waiting', count(*), NULL FROM kiln_job INDEXED BY kiln_job_claim_waiting
	WHERE state IN ('scheduled', 'retryable') GROUP BY queue
UNION ALL
SELECT queue, state, count(*), NULL FROM kiln_job INDEXED BY kiln_job_state
	WHERE state IN ('running', 'retryable') GROUP BY queue, state
UNION ALL
SELECT name, 'paused', paused, updated_at FROM kiln_queue`

// QueuePause pauses (params.Paused) or resumes the queue params.Name, as
// [store.QueueStore] says. It takes the write lock, as claims do, so once
// it returns no claim of any process takes the queue's jobs until resumed.
func (s *Store) QueuePause(ctx context.Context, params *store.QueuePauseParams) error {
	verb, query := "resume", sqlQueueResume
	if params.Paused {
		verb, query = "pause", sqlQueuePause
	}
	if params.Name == "" {
		return fail(verb+" queue", errors.New("empty queue name"))
	}
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		_, err := tx.ExecContext(ctx, query, params.Name, micros(params.Now))
		return err
	})
	if err != nil {
		return fail(verb+" queue "+params.Name, err)
	}
	return nil
}

// QueueList returns every queue that has been paused or holds an
// available, scheduled, running or retryable job, by name (bytewise), with
// its counts, read in one statement from the reader pool. Its cost is
// linear in the jobs counted (see sqlQueueList), not in the finalized jobs
// kept.
func (s *Store) QueueList(ctx context.Context) ([]*store.QueueRow, error) {
	rows, err := s.r.QueryContext(ctx, sqlQueueList)
	if err != nil {
		return nil, fail("list queues", err)
	}
	defer rows.Close()
	var (
		queues  = map[string]*store.QueueRow{}
		waiting = map[string]int{}
	)
	for rows.Next() {
		var (
			name, what string
			n          int
			at         sql.NullInt64
		)
		if err := rows.Scan(&name, &what, &n, &at); err != nil {
			return nil, fail("list queues", err)
		}
		q := queues[name]
		if q == nil {
			q = &store.QueueRow{Name: name}
			queues[name] = q
		}
		switch what {
		case "available":
			q.Available, q.OldestAvailableAt = n, fromNullMicros(at)
		case "waiting":
			waiting[name] = n
		case "running":
			q.Running = n
		case "retryable":
			q.Retryable = n
		case "paused":
			q.Paused, q.UpdatedAt = n == 1, fromNullMicros(at)
		}
	}
	if err := rows.Err(); err != nil {
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
