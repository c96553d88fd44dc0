SELECT k.partition_key,
	(SELECT id FROM kiln_job INDEXED BY kiln_job_claim_partition
		WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key = k.partition_key AND partition_key <> ''
		ORDER BY priority, scheduled_at LIMIT 1),
	(SELECT count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
		WHERE state = 'running' AND kind = ?2 AND partition_key = k.partition_key AND partition_key <> '')
FROM kiln_job_partition_key AS k
WHERE k.queue = ?1 AND k.kind = ?2 AND k.partition_key > ?3
ORDER BY k.partition_key
