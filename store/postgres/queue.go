package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/store"
)

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
//   - "available", "scheduled", "running" and "retryable": the queue's jobs
//     in that state, from the job counters (migrations 007 and 021):
//     the totals of kiln_job_count plus the deltas appended since the last
//     fold, as JobCountByQueueState reads them;
//   - "oldest": the earliest scheduled_at of the queue's available jobs,
//     for each queue that has some: the least of the first entries of its
//     (queue, kind, priority) ranges in kiln_job_claim_kind (queue, kind,
//     priority, scheduled_at, id). kinds walks the kinds of the queue's
//     available jobs and prio the priorities of each, as the claim's
//     loose index scans do: each step is one index seek that reads the
//     first entry after the previous kind or priority (ORDER BY follows
//     the index, LIMIT 1), and one more finds none. The queue is compared
//     in the index's collation (kiln_job.queue has the default one, the
//     counters "C"). The cost grows with the queues, the kinds of their
//     available jobs and their priorities, not with the jobs (an
//     index-only scan, as far as the visibility map allows);
//   - "paused": from kiln_queue, count 1 when paused, 0 when resumed, at
//     its updated_at.
//
// TestQueuePlans checks the plan.
const sqlQueueList = `WITH RECURSIVE counts AS (
	SELECT queue, state, sum(jobs)::bigint AS jobs FROM (
		SELECT queue, state, jobs FROM {s}.kiln_job_count
		UNION ALL
		SELECT queue, state, jobs FROM {s}.kiln_job_count_delta
	) AS c
	WHERE state IN ('available', 'scheduled', 'running', 'retryable')
	GROUP BY queue, state HAVING sum(jobs) > 0
),
kinds AS (
	SELECT c.queue, f.kind FROM counts AS c,
	LATERAL (SELECT kind FROM {s}.kiln_job
		WHERE state = 'available' AND queue = c.queue COLLATE "default"
		ORDER BY kind LIMIT 1) AS f
	WHERE c.state = 'available'
	UNION ALL
	SELECT k.queue, f.kind FROM kinds AS k,
	LATERAL (SELECT kind FROM {s}.kiln_job
		WHERE state = 'available' AND queue = k.queue COLLATE "default" AND kind > k.kind
		ORDER BY kind LIMIT 1) AS f
),
prio AS (
	SELECT k.queue, k.kind, f.priority, f.scheduled_at FROM kinds AS k,
	LATERAL (SELECT priority, scheduled_at FROM {s}.kiln_job
		WHERE state = 'available' AND queue = k.queue COLLATE "default" AND kind = k.kind
		ORDER BY priority, scheduled_at LIMIT 1) AS f
	UNION ALL
	SELECT p.queue, p.kind, f.priority, f.scheduled_at FROM prio AS p,
	LATERAL (SELECT priority, scheduled_at FROM {s}.kiln_job
		WHERE state = 'available' AND queue = p.queue COLLATE "default" AND kind = p.kind
			AND priority > p.priority
		ORDER BY priority, scheduled_at LIMIT 1) AS f
)
SELECT queue, state, jobs, NULL::timestamptz FROM counts
UNION ALL
SELECT queue, 'oldest', 0, min(scheduled_at) FROM prio GROUP BY queue
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
// its counts, read in one statement (one snapshot). Its cost grows with the
// queues, the kinds and priorities of their available jobs and the counter
// deltas not folded yet, not with the jobs (see sqlQueueList).
func (s *Store) QueueList(ctx context.Context) ([]*store.QueueRow, error) {
	rows, err := s.pool.Query(ctx, s.sql(sqlQueueList))
	if err != nil {
		return nil, fail("list queues", err)
	}
	var (
		queues     store.QueueRows
		name, what string
		n          int
		at         *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &what, &n, &at}, func() error {
		queues.Add(name, what, n, utcPtr(at))
		return nil
	})
	if err != nil {
		return nil, fail("list queues", err)
	}
	return queues.Rows(), nil
}
