SELECT k.partition_key, j.id,
	(SELECT count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
		WHERE state = 'running' AND kind = ?2 AND partition_key = k.partition_key AND partition_key <> ''),
	j.args, coalesce(j.priority, 0), coalesce(j.attempt, 0), coalesce(j.max_attempts, 0),
	coalesce(j.created_at, 0), coalesce(j.scheduled_at, 0), nullif(j.tags, '[]'), nullif(j.metadata, '{}'),
	j.unique_key, j.last_error,
	EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
FROM kiln_job_partition_key AS k
LEFT JOIN kiln_job AS j ON j.id = (SELECT id FROM kiln_job INDEXED BY kiln_job_claim_partition
		WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key = k.partition_key AND partition_key <> ''
		ORDER BY priority, scheduled_at LIMIT 1)
WHERE k.queue = ?1 AND k.kind = ?2 AND k.partition_key > ?3
ORDER BY k.partition_key
