-- cur2: cur_list.sql with the three seeks as one row-value seek; SQLite
-- (3.40) seeks a correlated row value by its first column only
-- (EXPLAIN: priority>?), so it walks the key's entries of that priority.
SELECT k.partition_key, j.id,
	(SELECT count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
		WHERE state = 'running' AND kind = ?2 AND partition_key = k.partition_key AND partition_key <> ''),
	j.args, coalesce(j.priority, 0), coalesce(j.attempt, 0), coalesce(j.max_attempts, 0),
	coalesce(j.created_at, 0), coalesce(j.scheduled_at, 0), nullif(j.tags, '[]'), nullif(j.metadata, '{}'),
	j.unique_key, j.last_error,
	EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
FROM kiln_job_partition_key AS k
LEFT JOIN kiln_job AS j ON j.id = (SELECT x.id FROM kiln_job AS x INDEXED BY kiln_job_claim_partition
		WHERE x.queue = ?1 AND x.kind = ?2 AND x.partition_key = k.partition_key AND x.partition_key <> ''
			AND (x.priority, x.scheduled_at) >= (k.c_priority, k.c_scheduled_at)
			AND (x.priority, x.scheduled_at, x.id) >= (k.c_priority, k.c_scheduled_at, k.c_id)
			AND x.state = 'available'
		ORDER BY x.priority, x.scheduled_at LIMIT 1)
WHERE k.queue = ?1 AND k.kind = ?2 AND k.partition_key > ?3
ORDER BY k.partition_key
