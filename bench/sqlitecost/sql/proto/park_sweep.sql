-- park: the parked keys of queue ?1 and kind ?2 (a loose index scan of
-- kiln_job_parked, one seek per key; one seek that finds nothing when no
-- job is parked), none when the queue is paused, each with its oldest
-- parked job in claim order, that job's columns (as
-- sqlPartitionKeysListed's listedColumns) and, last, the key's running
-- jobs of the kind (one seek of kiln_job_running_partition). The harness
-- steps every row: a key listed here has parked jobs, so its candidates
-- are parked too (they would otherwise pass its older parked jobs).
WITH RECURSIVE keys(k) AS (
	SELECT (SELECT partition_key FROM kiln_job INDEXED BY kiln_job_parked
		WHERE state = 'parked' AND queue = ?1 AND kind = ?2 ORDER BY partition_key LIMIT 1)
	WHERE NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
	UNION ALL
	SELECT (SELECT partition_key FROM kiln_job INDEXED BY kiln_job_parked
		WHERE state = 'parked' AND queue = ?1 AND kind = ?2 AND partition_key > keys.k ORDER BY partition_key LIMIT 1)
	FROM keys WHERE keys.k IS NOT NULL
)
SELECT keys.k, j.id, j.args, j.priority, j.attempt, j.max_attempts, j.created_at, j.scheduled_at,
	nullif(j.tags, '[]'), nullif(j.metadata, '{}'), j.unique_key, j.last_error,
	(SELECT count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
		WHERE state = 'running' AND kind = ?2 AND partition_key = keys.k AND partition_key <> '')
FROM keys JOIN kiln_job AS j ON j.id = (SELECT id FROM kiln_job INDEXED BY kiln_job_parked
		WHERE state = 'parked' AND queue = ?1 AND kind = ?2 AND partition_key = keys.k
		ORDER BY priority, scheduled_at, id LIMIT 1)
WHERE keys.k IS NOT NULL
