package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// JobCountByQueueState returns the counters of each queue and state, by
// queue then state, from kiln_job_count, which triggers keep in the
// transaction of every change to a job (migration 007): one read of a
// table with a row per pair, from the reader pool, whatever the number of
// jobs.
func (s *Store) JobCountByQueueState(ctx context.Context) ([]store.JobCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT queue, state, jobs, finished FROM kiln_job_count
		WHERE jobs <> 0 OR finished <> 0 ORDER BY queue, state`)
	if err != nil {
		return nil, fail("count jobs by queue and state", err)
	}
	defer rows.Close()
	counts := []store.JobCount{}
	for rows.Next() {
		var c store.JobCount
		if err := rows.Scan(&c.Queue, (*string)(&c.State), &c.Count, &c.Finished); err != nil {
			return nil, fail("count jobs by queue and state", err)
		}
		counts = append(counts, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("count jobs by queue and state", err)
	}
	return counts, nil
}

// sqlJobHistory sums the minutes in [?1, ?2) (Unix microseconds, whole
// buckets) of every queue into buckets of ?3 microseconds starting at ?1:
// a range scan of kiln_job_history's primary key, a row per minute.
const sqlJobHistory = `SELECT ?1 + (minute - ?1) / ?3 * ?3 AS at, sum(completed), sum(failed)
FROM kiln_job_history
WHERE minute >= ?1 AND minute < ?2
GROUP BY at ORDER BY at`

// sqlQueueHistory is sqlJobHistory for queue ?4, from
// kiln_job_queue_history.
const sqlQueueHistory = `SELECT ?1 + (minute - ?1) / ?3 * ?3 AS at, sum(completed), sum(failed)
FROM kiln_job_queue_history
WHERE queue = ?4 AND minute >= ?1 AND minute < ?2
GROUP BY at ORDER BY at`

// JobHistory returns the completed and failed attempts of each non-empty
// bucket of params, oldest first, from kiln_job_history (one row per
// minute, written by JobStatsFold) or, for one queue,
// kiln_job_queue_history, read from the reader pool.
func (s *Store) JobHistory(ctx context.Context, params *store.JobHistoryParams) ([]store.HistoryPoint, error) {
	from, to, err := params.Range()
	if err != nil {
		return nil, fail("read job history", err)
	}
	query, args := sqlJobHistory, []any{micros(from), micros(to), params.Bucket.Microseconds()}
	if params.Queue != "" {
		query, args = sqlQueueHistory, append(args, params.Queue)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fail("read job history", err)
	}
	defer rows.Close()
	points := []store.HistoryPoint{}
	for rows.Next() {
		var (
			p  store.HistoryPoint
			at int64
		)
		if err := rows.Scan(&at, &p.Completed, &p.Failed); err != nil {
			return nil, fail("read job history", err)
		}
		p.At = fromMicros(at)
		points = append(points, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("read job history", err)
	}
	return points, nil
}

// sqlRecordHistory adds what the finished counters of completed,
// retryable and discarded jobs gained since they were last recorded to
// minute ?1 (Unix microseconds), of each queue, then of every queue; the
// counters are then marked recorded. One statement each, in this order.
var sqlRecordHistory = []string{`INSERT INTO kiln_job_queue_history (queue, minute, completed, failed)
SELECT queue, ?1, sum(iif(state = 'completed', finished - recorded, 0)),
	sum(iif(state = 'completed', 0, finished - recorded))
FROM kiln_job_count
WHERE finished > recorded AND state IN ('completed', 'retryable', 'discarded')
GROUP BY queue
ON CONFLICT (queue, minute) DO UPDATE SET
	completed = completed + excluded.completed, failed = failed + excluded.failed`,
	`INSERT INTO kiln_job_history (minute, completed, failed)
SELECT ?1, sum(iif(state = 'completed', finished - recorded, 0)),
	sum(iif(state = 'completed', 0, finished - recorded))
FROM kiln_job_count
WHERE finished > recorded AND state IN ('completed', 'retryable', 'discarded')
HAVING count(*) > 0
ON CONFLICT (minute) DO UPDATE SET
	completed = completed + excluded.completed, failed = failed + excluded.failed`,
	`UPDATE kiln_job_count SET recorded = finished WHERE finished > recorded`}

// JobStatsFold records in the history of params.Now's minute the attempts
// that completed or failed since the previous fold, deletes the counters of
// pairs without jobs or finished attempts and the history of minutes
// before params.HistoryBefore, in one write transaction, and returns how
// many rows it changed. The counters need no folding: the triggers update
// them in place.
func (s *Store) JobStatsFold(ctx context.Context, params *store.JobStatsFoldParams) (int, error) {
	minute := micros(params.Now.Truncate(time.Minute))
	var n int64
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		exec := func(query string, args ...any) error {
			res, err := tx.ExecContext(ctx, query, args...)
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			n += m
			return err
		}
		for _, q := range sqlRecordHistory {
			if err := exec(q, minute); err != nil {
				return fmt.Errorf("record history: %w", err)
			}
		}
		if err := exec(`DELETE FROM kiln_job_count WHERE jobs = 0 AND finished = 0`); err != nil {
			return fmt.Errorf("delete empty counters: %w", err)
		}
		if params.HistoryBefore.IsZero() {
			return nil
		}
		for _, table := range []string{"kiln_job_history", "kiln_job_queue_history"} {
			if err := exec(`DELETE FROM `+table+` WHERE minute < ?`, micros(params.HistoryBefore)); err != nil {
				return fmt.Errorf("delete old history: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fail("fold job stats", err)
	}
	return int(n), nil
}

// sqlCountDiff returns, for each queue and state whose counter differs from
// the jobs' own count, the difference (jobs minus counter).
const sqlCountDiff = `SELECT queue, state, sum(n) FROM (
	SELECT queue, state, count(*) AS n FROM kiln_job GROUP BY queue, state
	UNION ALL
	SELECT queue, state, -jobs FROM kiln_job_count
) GROUP BY queue, state HAVING sum(n) <> 0 ORDER BY queue, state`

// JobCountRebuild corrects the job counters of kiln_job_count to the jobs'
// own count by queue and state, and returns the corrections it made, by
// queue then state: Count is what it added to the pair's count (the
// Finished counters are left alone). It runs in one write transaction:
// other writers wait for one scan of kiln_job.
func (s *Store) JobCountRebuild(ctx context.Context) ([]store.JobCount, error) {
	fixed := []store.JobCount{}
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		fixed = fixed[:0]
		rows, err := tx.QueryContext(ctx, sqlCountDiff)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c store.JobCount
			if err := rows.Scan(&c.Queue, (*string)(&c.State), &c.Count); err != nil {
				return err
			}
			fixed = append(fixed, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range fixed {
			if _, err := tx.ExecContext(ctx, `INSERT INTO kiln_job_count (queue, state, jobs) VALUES (?1, ?2, ?3)
				ON CONFLICT (queue, state) DO UPDATE SET jobs = jobs + excluded.jobs`, c.Queue, string(c.State), c.Count); err != nil {
				return fmt.Errorf("correct counter: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fail("rebuild job counters", err)
	}
	return fixed, nil
}
