package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/store"
)

// sqlJobCountByQueueState adds the folded totals and the deltas appended
// since (migration 007), in one snapshot.
const sqlJobCountByQueueState = `SELECT queue, state, sum(jobs)::bigint, sum(finished)::bigint FROM (
	SELECT queue, state, jobs, finished FROM {s}.kiln_job_count
	UNION ALL
	SELECT queue, state, jobs, finished FROM {s}.kiln_job_count_delta
) AS c
GROUP BY queue, state HAVING sum(jobs) <> 0 OR sum(finished) <> 0
ORDER BY queue, state COLLATE "C"`

// JobCountByQueueState returns the counters of each queue and state, by
// queue then state: the totals of kiln_job_count (a row per pair) plus the
// deltas that the triggers appended since the last JobStatsFold. Its cost
// grows with the pairs and the deltas not folded yet (a few per claim or
// finish statement of the last seconds), not with the jobs.
func (s *Store) JobCountByQueueState(ctx context.Context) ([]store.JobCount, error) {
	rows, err := s.pool.Query(ctx, s.sql(sqlJobCountByQueueState))
	if err != nil {
		return nil, fail("count jobs by queue and state", err)
	}
	counts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.JobCount, error) {
		var c store.JobCount
		err := row.Scan(&c.Queue, &c.State, &c.Count, &c.Finished)
		return c, err
	})
	if err != nil {
		return nil, fail("count jobs by queue and state", err)
	}
	if counts == nil {
		counts = []store.JobCount{}
	}
	return counts, nil
}

// sqlJobHistory sums the minutes in [$1, $2) (whole buckets) of every
// queue into buckets of $3 microseconds starting at $1: a range scan of
// kiln_job_history's primary key, a row per minute.
const sqlJobHistory = `SELECT date_bin($3::bigint * interval '1 microsecond', minute, $1) AS at,
	sum(completed)::bigint, sum(failed)::bigint
FROM {s}.kiln_job_history
WHERE minute >= $1 AND minute < $2
GROUP BY at ORDER BY at`

// sqlQueueHistory is sqlJobHistory for queue $4, from
// kiln_job_queue_history.
const sqlQueueHistory = `SELECT date_bin($3::bigint * interval '1 microsecond', minute, $1) AS at,
	sum(completed)::bigint, sum(failed)::bigint
FROM {s}.kiln_job_queue_history
WHERE queue = $4 AND minute >= $1 AND minute < $2
GROUP BY at ORDER BY at`

// JobHistory returns the completed and failed attempts of each non-empty
// bucket of params, oldest first, from kiln_job_history (a row per minute,
// written by JobStatsFold) or, for one queue, kiln_job_queue_history.
func (s *Store) JobHistory(ctx context.Context, params *store.JobHistoryParams) ([]store.HistoryPoint, error) {
	from, to, err := params.Range()
	if err != nil {
		return nil, fail("read job history", err)
	}
	query, args := sqlJobHistory, []any{from, to, params.Bucket.Microseconds()}
	if params.Queue != "" {
		query, args = sqlQueueHistory, append(args, params.Queue)
	}
	rows, err := s.pool.Query(ctx, s.sql(query), args...)
	if err != nil {
		return nil, fail("read job history", err)
	}
	points, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.HistoryPoint, error) {
		var p store.HistoryPoint
		err := row.Scan(&p.At, &p.Completed, &p.Failed)
		p.At = p.At.UTC()
		return p, err
	})
	if err != nil {
		return nil, fail("read job history", err)
	}
	if points == nil {
		points = []store.HistoryPoint{}
	}
	return points, nil
}

// sqlFold moves every delta row it sees into the totals, adds the finished
// attempts they record (completed; retryable or discarded: failed) to the
// history of minute $1, of each queue and of every queue, and returns how
// many delta rows it moved. A delta committed after its snapshot stays for
// the next fold; one that a concurrent fold deleted first is skipped (its
// DELETE waits for the other's, then finds the row gone), so no delta is
// folded twice. Rows are upserted in key order, so that two folds at once
// (two leaders for a moment) do not deadlock.
const sqlFold = `WITH d AS (
	DELETE FROM {s}.kiln_job_count_delta RETURNING queue, state, jobs, finished
),
counts AS (
	INSERT INTO {s}.kiln_job_count AS c (queue, state, jobs, finished)
	SELECT queue, state, sum(jobs), sum(finished) FROM d GROUP BY queue, state ORDER BY queue, state
	ON CONFLICT (queue, state) DO UPDATE SET jobs = c.jobs + excluded.jobs, finished = c.finished + excluded.finished
),
ended AS (
	SELECT queue, sum(finished) FILTER (WHERE state = 'completed') AS completed,
		sum(finished) FILTER (WHERE state IN ('retryable', 'discarded')) AS failed
	FROM d WHERE finished <> 0 AND state IN ('completed', 'retryable', 'discarded')
	GROUP BY queue
),
queues AS (
	INSERT INTO {s}.kiln_job_queue_history AS h (queue, minute, completed, failed)
	SELECT queue, $1, coalesce(completed, 0), coalesce(failed, 0) FROM ended ORDER BY queue
	ON CONFLICT (queue, minute) DO UPDATE SET
		completed = h.completed + excluded.completed, failed = h.failed + excluded.failed
),
total AS (
	INSERT INTO {s}.kiln_job_history AS h (minute, completed, failed)
	SELECT $1, coalesce(sum(completed), 0), coalesce(sum(failed), 0) FROM ended HAVING count(*) > 0
	ON CONFLICT (minute) DO UPDATE SET
		completed = h.completed + excluded.completed, failed = h.failed + excluded.failed
)
SELECT count(*) FROM d`

// JobStatsFold moves the deltas into kiln_job_count and records the
// attempts they finished in the history of params.Now's minute, deletes the
// counters of pairs without jobs or finished attempts and the history of
// minutes before params.HistoryBefore, in one transaction, and returns how
// many rows it folded or deleted. Reads see the fold whole or not at all,
// so the counts they return do not change.
func (s *Store) JobStatsFold(ctx context.Context, params *store.JobStatsFoldParams) (int, error) {
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, s.sql(sqlFold), params.Now.Truncate(time.Minute).UTC()).Scan(&n); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, s.sql(`DELETE FROM {s}.kiln_job_count WHERE jobs = 0 AND finished = 0`))
		if err != nil {
			return fmt.Errorf("delete empty counters: %w", err)
		}
		n += int(tag.RowsAffected())
		if params.HistoryBefore.IsZero() {
			return nil
		}
		for _, q := range []string{`DELETE FROM {s}.kiln_job_history WHERE minute < $1`,
			`DELETE FROM {s}.kiln_job_queue_history WHERE minute < $1`} {
			tag, err := tx.Exec(ctx, s.sql(q), truncate(params.HistoryBefore))
			if err != nil {
				return fmt.Errorf("delete old history: %w", err)
			}
			n += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, fail("fold job stats", err)
	}
	return n, nil
}

// sqlCountedMark is a condition, always true, that marks the statement it
// is evaluated in as one that writes its own counter deltas to
// kiln_job_count_delta: it sets kiln.counted, transaction-locally, to the
// statement's start time, which the WHEN of the counters' UPDATE trigger
// compares with its own (migration 019), so that the trigger skips that
// statement and no later one. Its subquery is an initplan: as a condition
// of a statement's top-level WHERE it is a one-time filter, evaluated
// before the statement writes a row, so the mark is set before the
// trigger's WHEN is evaluated at the statement's end. The claim and the
// finishes use it (sqlClaim, sqlFinishJobs, sqlCompleteJobs). The INSERT
// and DELETE triggers have no such WHEN: inserts and deletes are counted
// by them, and must write no deltas of their own.
const sqlCountedMark = `(SELECT set_config('kiln.counted', statement_timestamp()::text, true)) IS NOT NULL`
