package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/kilnjobs/kiln/store"
)

// sqlQueuePause pauses queue ?1 at ?2, unless it already is paused.
const sqlQueuePause = `INSERT INTO kiln_queue (name, paused, updated_at) VALUES (?1, 1, ?2)
ON CONFLICT (name) DO UPDATE SET paused = 1, updated_at = ?2 WHERE paused = 0`

// sqlQueueResume resumes queue ?1 at ?2 if it is paused; a queue without a
// row is not paused and gets none.
const sqlQueueResume = `UPDATE kiln_queue SET paused = 0, updated_at = ?2 WHERE name = ?1 AND paused = 1`

// sqlQueueList returns, in one statement (one snapshot), rows of (queue,
// what, count, at):
//
//   - "available", "scheduled", "running" and "retryable": the queue's jobs
//     in that state, from kiln_job_count, which triggers keep in the
//     transaction of every change to a job (migration 007): a table with a
//     row per queue and state;
//   - "oldest": the earliest scheduled_at of the queue's available jobs,
//     for each queue that has some. The available jobs are split between
//     kiln_job_claim_untagged (queue, kind, priority, scheduled_at, id)
//     and kiln_job_claim_fair (queue, kind, priority, fair_seq, id,
//     partition_key, scheduled_at), the keyed jobs in fair order
//     (untaggedPredicate). Of the first, the least of the first entries
//     of its (queue, kind, priority) ranges: kinds_u walks the kinds
//     present and prio the priorities of each, as the claim's loose index
//     scans do: one index seek each, and one more that finds none; the
//     first entry of each range is one seek more, which reads one entry
//     and no table row. Of the second, whose order is not the schedule's,
//     the least scheduled_at of each (queue, kind) range (kinds_f walks
//     the kinds present, one seek each): a covering read of the queue's
//     keyed available jobs, so that part of the cost grows with them;
//   - "paused": from kiln_queue, count 1 when paused, 0 when resumed, at
//     its updated_at.
//
// TestQueueListPlan checks the plan.
const sqlQueueList = `WITH RECURSIVE counts AS (
	SELECT queue, state, jobs FROM kiln_job_count
	WHERE state IN ('available', 'scheduled', 'running', 'retryable') AND jobs > 0
),
kinds_u(queue, kind) AS (
	SELECT queue, (SELECT kind FROM ` + sqlClaimUntagged + `
		WHERE ` + untaggedPredicate + ` AND queue = counts.queue ORDER BY kind LIMIT 1)
	FROM counts WHERE state = 'available'
	UNION ALL
	SELECT queue, (SELECT kind FROM ` + sqlClaimUntagged + `
		WHERE ` + untaggedPredicate + ` AND queue = kinds_u.queue AND kind > kinds_u.kind ORDER BY kind LIMIT 1)
	FROM kinds_u WHERE kind IS NOT NULL
),
kinds_f(queue, kind) AS (
	SELECT queue, (SELECT kind FROM ` + sqlClaimFair + `
		WHERE ` + fairPredicate + ` AND queue = counts.queue ORDER BY kind LIMIT 1)
	FROM counts WHERE state = 'available'
	UNION ALL
	SELECT queue, (SELECT kind FROM ` + sqlClaimFair + `
		WHERE ` + fairPredicate + ` AND queue = kinds_f.queue AND kind > kinds_f.kind ORDER BY kind LIMIT 1)
	FROM kinds_f WHERE kind IS NOT NULL
),
prio(queue, kind, p) AS (
	SELECT queue, kind, (SELECT priority FROM ` + sqlClaimUntagged + `
		WHERE ` + untaggedPredicate + ` AND queue = kinds_u.queue AND kind = kinds_u.kind ORDER BY priority LIMIT 1)
	FROM kinds_u WHERE kind IS NOT NULL
	UNION ALL
	SELECT queue, kind, (SELECT priority FROM ` + sqlClaimUntagged + `
		WHERE ` + untaggedPredicate + ` AND queue = prio.queue AND kind = prio.kind AND priority > prio.p
		ORDER BY priority LIMIT 1)
	FROM prio WHERE p IS NOT NULL
)
SELECT queue, state, jobs, NULL FROM counts
UNION ALL
SELECT queue, 'oldest', 0, min(at) FROM (
	SELECT queue, (SELECT scheduled_at FROM ` + sqlClaimUntagged + `
		WHERE ` + untaggedPredicate + ` AND queue = prio.queue AND kind = prio.kind AND priority = prio.p
		ORDER BY scheduled_at LIMIT 1) AS at
	FROM prio WHERE p IS NOT NULL
	UNION ALL
	SELECT queue, (SELECT min(scheduled_at) FROM ` + sqlClaimFair + `
		WHERE ` + fairPredicate + ` AND queue = kinds_f.queue AND kind = kinds_f.kind) AS at
	FROM kinds_f WHERE kind IS NOT NULL)
	GROUP BY queue
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
// its counts, read in one statement from the reader pool. Its cost grows
// with the queues and the kinds and priorities of their available jobs, not
// with the jobs (see sqlQueueList).
func (s *Store) QueueList(ctx context.Context) ([]*store.QueueRow, error) {
	rows, err := s.r.QueryContext(ctx, sqlQueueList)
	if err != nil {
		return nil, fail("list queues", err)
	}
	defer rows.Close()
	var queues store.QueueRows
	for rows.Next() {
		var (
			name, what string
			n          int
			at         sql.NullInt64
		)
		if err := rows.Scan(&name, &what, &n, &at); err != nil {
			return nil, fail("list queues", err)
		}
		queues.Add(name, what, n, fromNullMicros(at))
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list queues", err)
	}
	return queues.Rows(), nil
}
