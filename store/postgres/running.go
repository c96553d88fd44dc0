package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/store"
)

// sqlRunningCount counts the running jobs of each kind of $1, and those of
// each kind of $2 per partition key, from the kinds' entries of
// kiln_job_running (migration 032: as many entries as jobs of the kinds
// run), keeping each kind's $3 busiest keys (ties in byte order) and how
// many keys it has: rows (kind, ”, running, 0) and (kind, key, running,
// keys).
const sqlRunningCount = `WITH by_kind AS (
	SELECT kind, count(*) AS n FROM {s}.kiln_job
	WHERE state = 'running' AND kind COLLATE "C" = ANY($1::text[]) GROUP BY kind
), running AS MATERIALIZED (
	SELECT kind, partition_key FROM {s}.kiln_job
	WHERE state = 'running' AND kind COLLATE "C" = ANY($2::text[])
), by_key AS (
	SELECT kind, partition_key, count(*) AS n FROM running
	WHERE partition_key <> ''
	GROUP BY kind, partition_key
), ranked AS (
	SELECT kind, partition_key, n, count(*) OVER (PARTITION BY kind) AS keys,
		row_number() OVER (PARTITION BY kind ORDER BY n DESC, partition_key COLLATE "C") AS rank
	FROM by_key
)
SELECT kind, '', n, 0::bigint FROM by_kind
UNION ALL
SELECT kind, partition_key, n, keys FROM ranked WHERE rank <= $3`

// JobRunningCount counts the running jobs per kind and per partition key,
// as [store.JobStore] says, in one statement outside a transaction
// (sqlRunningCount).
func (s *Store) JobRunningCount(ctx context.Context, params *store.JobRunningCountParams) (*store.JobRunningCounts, error) {
	if err := params.Validate(); err != nil {
		return nil, fail("count running jobs", err)
	}
	rows, err := s.pool.Query(ctx, s.sql(sqlRunningCount),
		append([]string{}, params.Kinds...), append([]string{}, params.PartitionKinds...), params.MaxKeys)
	if err != nil {
		return nil, fail("count running jobs", err)
	}
	var (
		out []store.RunningCountRow
		r   store.RunningCountRow
	)
	if _, err := pgx.ForEachRow(rows, []any{&r.Kind, &r.Key, &r.N, &r.Keys}, func() error {
		out = append(out, r)
		return nil
	}); err != nil {
		return nil, fail("count running jobs", fmt.Errorf("read counts: %w", err))
	}
	return store.NewJobRunningCounts(out), nil
}
