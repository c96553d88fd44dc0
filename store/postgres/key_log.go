package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// logKeyed returns an INSERT, the body of a statement's keyed CTE, that
// appends to kiln_job_key_log (migration 025) one row naming the jobs of
// from, a CTE of the statement whose columns include id, queue, kind,
// partition_key, priority, scheduled_at and state as the statement left
// them, that are available and have a partition key; it appends nothing
// when none is. Every statement of the Store that can make a job with a
// key available has such a CTE (or, for the insert and a finish, a variant
// with one that it runs when some of its jobs may become available).
func logKeyed(from string) string {
	return `INSERT INTO {s}.kiln_job_key_log (queue, kind, partition_key, priority, scheduled_at, id)
	SELECT array_agg(k.queue), array_agg(k.kind), array_agg(k.partition_key), array_agg(k.priority),
		array_agg(k.scheduled_at), array_agg(k.id)
	FROM ` + from + ` AS k WHERE k.state = 'available' AND k.partition_key <> ''
	HAVING count(*) > 0`
}

// KeyLogKeep is how long the rows of kiln_job_key_log are kept once the
// transaction that appended them has ended: the leader's JobStatsFold
// deletes them after that. A reader of the log that read it less than
// KeyLogKeep ago finds every row appended since its read; one that read it
// longer ago must read what the log tells of (each key's available jobs)
// again.
const KeyLogKeep = time.Minute

// keyLogPrune is what JobStatsFold knows of kiln_job_key_log between
// calls: the xmin of a snapshot it took (every transaction with a lower
// txid had ended then), and when. Once KeyLogKeep has passed since, the
// rows with a lower txid have been visible for at least KeyLogKeep and are
// deleted. A Store that never folded (a new leader) records a first xmin
// and deletes nothing.
type keyLogPrune struct {
	mu   sync.Mutex
	xmin int64
	at   time.Time // monotonic
}

// sqlKeyLogXmin returns the xmin of the statement's snapshot: every
// transaction whose txid is lower had ended when it was taken.
const sqlKeyLogXmin = `SELECT txid_snapshot_xmin(txid_current_snapshot())`

// sqlKeyLogPrune deletes the rows of kiln_job_key_log appended by the
// transactions whose txid is below $1.
const sqlKeyLogPrune = `DELETE FROM {s}.kiln_job_key_log WHERE txid < $1`

// pruneKeyLog deletes the rows of kiln_job_key_log appended by
// transactions that ended KeyLogKeep ago or more, as known from an xmin
// recorded that long ago, and records a new one when it does (or when none
// is recorded). It returns how many rows it deleted.
func (s *Store) pruneKeyLog(ctx context.Context, tx pgx.Tx, now time.Time) (int, error) {
	p := &s.keyLog
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.xmin != 0 && now.Sub(p.at) < KeyLogKeep {
		return 0, nil
	}
	var xmin int64
	if err := tx.QueryRow(ctx, sqlKeyLogXmin).Scan(&xmin); err != nil {
		return 0, fmt.Errorf("read the snapshot's xmin: %w", err)
	}
	n := 0
	if p.xmin != 0 {
		tag, err := tx.Exec(ctx, s.sql(sqlKeyLogPrune), p.xmin)
		if err != nil {
			return 0, fmt.Errorf("delete the key log's old rows: %w", err)
		}
		n = int(tag.RowsAffected())
	}
	p.xmin, p.at = xmin, now
	return n, nil
}

// keyLogPos is where a reader of kiln_job_key_log stands: the snapshot of
// its last read, as txid_current_snapshot() gave it. The rows that read
// did not see are those of the transactions at or after xmax and of those
// in xip (in progress then); every other transaction had ended, and its
// rows were seen (or rolled back). The zero keyLogPos stands before every
// row.
type keyLogPos struct {
	xmax int64
	xip  []int64
}

// keyLogEntry is one job of a row of kiln_job_key_log: a job with a key
// that became available, where it stood in claim order then.
type keyLogEntry struct {
	seq         int64 // the row's
	queue, kind string
	key         string
	priority    int
	scheduledAt time.Time
	id          int64
}

// sqlKeyLogRead returns the statement's snapshot (xmax and in-progress
// txids) in its first row, whose other columns are NULL, then the jobs of
// the rows of kiln_job_key_log that a read at the snapshot ($1 its xmax,
// $2 its in-progress txids) did not see, one row per job, in seq order and
// each row's order. The two sets are two ranges of the txid index, read
// apart: with txid >= $1 OR txid = ANY($2) the generic plan read the
// whole table (5.2M instructions per read of a log of 5,000 rows).
const sqlKeyLogRead = `WITH snap AS MATERIALIZED (
	SELECT txid_snapshot_xmax(c) AS xmax, ARRAY(SELECT txid_snapshot_xip(c)) AS xip FROM txid_current_snapshot() AS c
)
SELECT seq, xmax, xip, queue, kind, partition_key, priority, scheduled_at, id FROM (
	SELECT NULL::bigint AS seq, 0::bigint AS n, xmax, xip, NULL::text AS queue, NULL::text AS kind,
		NULL::text AS partition_key, NULL::integer AS priority, NULL::timestamptz AS scheduled_at, NULL::bigint AS id
	FROM snap
	UNION ALL
	SELECT l.seq, u.n, NULL, NULL, u.queue, u.kind, u.partition_key, u.priority, u.scheduled_at, u.id
	FROM (
		SELECT * FROM {s}.kiln_job_key_log WHERE txid >= $1
		UNION ALL
		SELECT * FROM {s}.kiln_job_key_log WHERE txid = ANY($2::bigint[]) AND txid < $1
	) AS l
		CROSS JOIN LATERAL unnest(l.queue, l.kind, l.partition_key, l.priority, l.scheduled_at, l.id)
			WITH ORDINALITY AS u(queue, kind, partition_key, priority, scheduled_at, id, n)
) AS r
ORDER BY seq NULLS FIRST, n`

// readKeyLog returns the jobs of the rows of kiln_job_key_log that a read
// at pos did not see, in the order they were appended, and the position of
// this read, with q (a transaction's statement reads what its snapshot
// does).
func (s *Store) readKeyLog(ctx context.Context, q querier, pos keyLogPos) ([]keyLogEntry, keyLogPos, error) {
	xip := pos.xip
	if xip == nil {
		xip = []int64{}
	}
	rows, err := q.Query(ctx, s.sql(sqlKeyLogRead), pos.xmax, xip)
	if err != nil {
		return nil, pos, fmt.Errorf("read the key log: %w", err)
	}
	var (
		entries []keyLogEntry
		next    keyLogPos
		first   = true
	)
	for rows.Next() {
		if first {
			var (
				seq              *int64
				queue, kind, key *string
				priority         *int32
				at               *time.Time
				id               *int64
			)
			if err := rows.Scan(&seq, &next.xmax, &next.xip, &queue, &kind, &key, &priority, &at, &id); err != nil {
				rows.Close()
				return nil, pos, fmt.Errorf("read the key log: %w", err)
			}
			first = false
			continue
		}
		var (
			e          keyLogEntry
			xmax       *int64
			xipIgnored []int64
			priority   int32
		)
		if err := rows.Scan(&e.seq, &xmax, &xipIgnored, &e.queue, &e.kind, &e.key, &priority, &e.scheduledAt, &e.id); err != nil {
			rows.Close()
			return nil, pos, fmt.Errorf("read the key log: %w", err)
		}
		e.priority, e.scheduledAt = int(priority), e.scheduledAt.UTC()
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, pos, fmt.Errorf("read the key log: %w", err)
	}
	return entries, next, nil
}
