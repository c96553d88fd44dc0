package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
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
// deltas appended since the last JobStatsFold (by the statements that move
// jobs, and the insert and delete triggers). Its cost
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

// countMoves returns an INSERT, the body of a statement's counted CTE,
// that appends to kiln_job_count_delta the counter deltas of the jobs the
// statement moved (migration 021: no trigger counts UPDATEs of kiln_job,
// so every UPDATE that can change a job's queue or state writes its own
// deltas, in the same statement). from is the FROM list that holds one row
// per moved job; queue and state are the expressions of its queue and
// state after the move, oldQueue and oldState before. Each job counts one
// job fewer in the pair it left and one more in the pair it entered, and
// one finished attempt there if it left running, as migration 007's
// trigger counted them; pairs whose sums are zero (a job that stayed in
// its pair) append nothing.
func countMoves(from, queue, state, oldQueue, oldState string) string {
	return `INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
	SELECT d.queue, d.state, sum(d.jobs), sum(d.finished)
	FROM ` + from + ` CROSS JOIN LATERAL (VALUES
		(` + queue + `, ` + state + `, 1, (` + oldState + ` = 'running' AND ` + state + ` <> 'running')::integer),
		(` + oldQueue + `, ` + oldState + `, -1, 0)) AS d(queue, state, jobs, finished)
	GROUP BY d.queue, d.state HAVING sum(d.jobs) <> 0 OR sum(d.finished) <> 0`
}

// sqlCountRebuild compares the jobs' own count by queue and state with the
// counters (totals plus deltas), in the one snapshot of the statement, and
// appends the difference of each pair that differs to
// kiln_job_count_delta, which it returns. Every change to a job writes its
// deltas in its own transaction, so a change committed after the snapshot
// is in neither side, and one committed before is in both (a fold, too,
// moves deltas into totals in one transaction): the correction is exact
// whatever commits meanwhile, and reads nothing but the jobs (one scan)
// and the counters, locking neither.
const sqlCountRebuild = `WITH jobs AS (
	SELECT queue COLLATE "C" AS queue, state, count(*) AS n FROM {s}.kiln_job GROUP BY 1, 2
),
counted AS (
	SELECT queue, state, sum(jobs) AS n FROM (
		SELECT queue, state, jobs FROM {s}.kiln_job_count
		UNION ALL
		SELECT queue, state, jobs FROM {s}.kiln_job_count_delta
	) AS c
	GROUP BY queue, state
),
diff AS MATERIALIZED (
	SELECT coalesce(j.queue, c.queue) AS queue, coalesce(j.state, c.state) AS state,
		coalesce(j.n, 0) - coalesce(c.n, 0) AS jobs
	FROM jobs AS j FULL JOIN counted AS c ON c.queue = j.queue AND c.state = j.state
),
fixed AS (
	INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
	SELECT queue, state, jobs, 0 FROM diff WHERE jobs <> 0
)
SELECT queue, state, jobs FROM diff WHERE jobs <> 0 ORDER BY queue, state COLLATE "C"`

// countRebuildLockKey returns the key of the advisory lock that
// serializes the JobCountRebuild calls of one schema: two at once would
// both add the difference they saw.
func (s *Store) countRebuildLockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("kiln count rebuild\x00" + s.schema))
	return int64(h.Sum64())
}

// JobCountRebuild corrects the job counters to the jobs' own count by
// queue and state (sqlCountRebuild), and returns the corrections it made,
// by queue then state: Count is what it added to the pair's count (the
// Finished counters are left alone). It takes a transaction-level
// advisory lock of the schema first, so that calls run one at a time and
// each sees the previous one's correction; it locks no job and no counter:
// enqueues, claims, finishes and folds go on. Its cost is one scan of
// kiln_job.
func (s *Store) JobCountRebuild(ctx context.Context) ([]store.JobCount, error) {
	var fixed []store.JobCount
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, s.countRebuildLockKey()); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		rows, err := tx.Query(ctx, s.sql(sqlCountRebuild))
		if err != nil {
			return err
		}
		fixed, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.JobCount, error) {
			var c store.JobCount
			err := row.Scan(&c.Queue, &c.State, &c.Count)
			return c, err
		})
		return err
	})
	if err != nil {
		return nil, fail("rebuild job counters", err)
	}
	if fixed == nil {
		fixed = []store.JobCount{}
	}
	return fixed, nil
}
