package sqlite

import (
	"context"
	"fmt"

	"github.com/kilnjobs/kiln/store"
)

// sqlRunningCount counts the running jobs of each kind of ?1, through
// kiln_job_state_inflight (as many entries as jobs run), and those of each
// kind of ?2 per partition key, through kiln_job_running_partition (as
// many entries as jobs of those kinds run with a key), keeping each kind's
// ?3 busiest keys and how many keys it has: rows (kind, ”, running, 0)
// and (kind, key, running, keys).
const sqlRunningCount = `WITH by_kind AS (
	SELECT kind, count(*) AS n FROM kiln_job INDEXED BY kiln_job_state_inflight
	WHERE state = 'running' AND ` + sqlInflightPredicate + `
		AND kind IN (SELECT value FROM json_each(?1)) GROUP BY kind
), by_key AS (
	SELECT kind, partition_key, count(*) AS n FROM kiln_job INDEXED BY kiln_job_running_partition
	WHERE state = 'running' AND partition_key <> '' AND kind IN (SELECT value FROM json_each(?2))
	GROUP BY kind, partition_key
), ranked AS (
	SELECT kind, partition_key, n, count(*) OVER (PARTITION BY kind) AS keys,
		row_number() OVER (PARTITION BY kind ORDER BY n DESC, partition_key) AS rank
	FROM by_key
)
SELECT kind, '', n, 0 FROM by_kind
UNION ALL
SELECT kind, partition_key, n, keys FROM ranked WHERE rank <= ?3`

// JobRunningCount counts the running jobs per kind and per partition key,
// as [store.JobStore] says, in one statement on a reader (sqlRunningCount).
func (s *Store) JobRunningCount(ctx context.Context, params *store.JobRunningCountParams) (*store.JobRunningCounts, error) {
	if err := params.Validate(); err != nil {
		return nil, fail("count running jobs", err)
	}
	kinds, err := jsonStrings(append([]string{}, params.Kinds...))
	if err != nil {
		return nil, fail("count running jobs", err)
	}
	keyKinds, err := jsonStrings(append([]string{}, params.PartitionKinds...))
	if err != nil {
		return nil, fail("count running jobs", err)
	}
	rows, err := s.r.QueryContext(ctx, sqlRunningCount, kinds, keyKinds, params.MaxKeys)
	if err != nil {
		return nil, fail("count running jobs", err)
	}
	defer rows.Close()
	var out []store.RunningCountRow
	for rows.Next() {
		var r store.RunningCountRow
		if err := rows.Scan(&r.Kind, &r.Key, &r.N, &r.Keys); err != nil {
			return nil, fail("count running jobs", fmt.Errorf("read counts: %w", err))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("count running jobs", err)
	}
	return store.NewJobRunningCounts(out), nil
}
