package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlPartitionKeys returns up to ?4 partition keys other than ” of the
// available jobs of queue ?1 and kind ?2, in byte order after ?3, by a
// loose index scan of kiln_job_claim_partition: one seek per key, however
// many jobs each key has queued.
const sqlPartitionKeys = `WITH RECURSIVE keys(k) AS (
	SELECT (SELECT partition_key FROM kiln_job INDEXED BY kiln_job_claim_partition
		WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key <> '' AND partition_key > ?3
		ORDER BY partition_key LIMIT 1)
	UNION ALL
	SELECT (SELECT partition_key FROM kiln_job INDEXED BY kiln_job_claim_partition
		WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key <> '' AND partition_key > keys.k
		ORDER BY partition_key LIMIT 1)
	FROM keys WHERE keys.k IS NOT NULL
)
SELECT k FROM keys WHERE k IS NOT NULL LIMIT ?4`

// sqlPartitionRunning counts the running jobs of kind ?1 per partition key
// through kiln_job_running_partition.
const sqlPartitionRunning = `SELECT partition_key, count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
WHERE state = 'running' AND kind = ?1 AND partition_key <> '' GROUP BY partition_key`

// sqlPartitionJobs returns (claimColumns of) the first ?5 due available
// jobs of queue ?1, kind ?2 and key ?3 at ?4 in claim order, from the
// key's range of kiln_job_claim_partition. A paused queue gives none.
const sqlPartitionJobs = `SELECT ` + claimColumns + ` FROM kiln_job INDEXED BY kiln_job_claim_partition
WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key = ?3 AND partition_key <> ''
	AND scheduled_at <= ?4 AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
ORDER BY priority, scheduled_at, id
LIMIT ?5`

// sqlUnkeyedJobs returns (claimColumns of) the jobs without a key among
// the first ?4 due available jobs of queue ?1 and kind ?2 at ?3 in claim
// order (kiln_job_claim_kind), at most ?5. A paused queue gives none.
const sqlUnkeyedJobs = `SELECT * FROM (SELECT ` + claimColumns + ` FROM kiln_job INDEXED BY kiln_job_claim_kind
	WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND scheduled_at <= ?3
		AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
	ORDER BY priority, scheduled_at, id
	LIMIT ?4)
WHERE partition_key = ''
LIMIT ?5`

// partitionSource is store.PartitionSource for one kind of a claim, in
// its write transaction (the database's only writer: the counts of
// running jobs hold until it commits).
type partitionSource struct {
	tx   *sql.Tx
	p    *store.JobClaimParams
	kind string
}

func (p *partitionSource) Keys(ctx context.Context, after string, n int) ([]string, error) {
	rows, err := p.tx.QueryContext(ctx, sqlPartitionKeys, p.p.Queue, p.kind, after, n)
	if err != nil {
		return nil, fmt.Errorf("list partition keys: %w", err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("list partition keys: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list partition keys: %w", err)
	}
	return keys, nil
}

func (p *partitionSource) Running(ctx context.Context) (map[string]int, error) {
	rows, err := p.tx.QueryContext(ctx, sqlPartitionRunning, p.kind)
	if err != nil {
		return nil, fmt.Errorf("count running jobs per key: %w", err)
	}
	defer rows.Close()
	running := map[string]int{}
	for rows.Next() {
		var (
			k string
			n int
		)
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("count running jobs per key: %w", err)
		}
		running[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count running jobs per key: %w", err)
	}
	return running, nil
}

func (p *partitionSource) Take(ctx context.Context, keys []string, takes []int, empty, window int) ([]*kilntype.JobRow, error) {
	var picked []*kilntype.JobRow
	read := func(query string, args ...any) error {
		rows, err := p.tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanCandidate(rows)
			if err != nil {
				return err
			}
			picked = append(picked, j)
		}
		return rows.Err()
	}
	now := micros(p.p.Now)
	if empty > 0 {
		if err := read(sqlUnkeyedJobs, p.p.Queue, p.kind, now, window, empty); err != nil {
			return nil, fmt.Errorf("select jobs without a key: %w", err)
		}
	}
	for i, k := range keys {
		if err := read(sqlPartitionJobs, p.p.Queue, p.kind, k, now, takes[i]); err != nil {
			return nil, fmt.Errorf("select jobs of a key: %w", err)
		}
	}
	if len(picked) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(picked))
	times := &claimTimes{truncate(p.p.Now), truncate(p.p.LeaseExpiresAt)}
	for i, j := range picked {
		ids[i] = j.ID
		markClaimed(j, p.p, times)
	}
	res, err := p.tx.ExecContext(ctx, sqlClaimUpdate, now, p.p.LeasedBy, micros(p.p.LeaseExpiresAt), jsonIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("mark running: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(ids)) {
		return nil, fmt.Errorf("mark running: %d of %d jobs updated (%v)", n, len(ids), err)
	}
	return picked, nil
}

var _ store.PartitionSource = (*partitionSource)(nil)
