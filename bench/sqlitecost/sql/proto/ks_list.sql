SELECT s.partition_key, j.id, (SELECT count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
        WHERE state = 'running' AND kind = ?2 AND partition_key = s.partition_key AND partition_key <> ''),
    j.kind, NULL AS queue, j.args, j.priority, j.attempt, j.max_attempts, j.created_at,
    j.scheduled_at, nullif(j.tags, '[]') AS tags, nullif(j.metadata, '{}') AS metadata, j.unique_key, j.last_error
FROM kiln_job_keyset AS s JOIN kiln_job AS j ON j.id = (SELECT id FROM kiln_job INDEXED BY kiln_job_claim_partition
        WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key = s.partition_key AND partition_key <> ''
        ORDER BY priority, scheduled_at LIMIT 1)
WHERE s.queue = ?1 AND s.kind = ?2 AND s.partition_key > ?3
ORDER BY s.partition_key
