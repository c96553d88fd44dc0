SELECT h.partition_key, j.id, (SELECT count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
        WHERE state = 'running' AND kind = ?2 AND partition_key = h.partition_key AND partition_key <> ''),
    j.kind, NULL AS queue, j.args, j.priority, j.attempt, j.max_attempts, j.created_at,
    j.scheduled_at, nullif(j.tags, '[]') AS tags, nullif(j.metadata, '{}') AS metadata, j.unique_key, j.last_error
FROM kiln_job_head AS h JOIN kiln_job AS j ON j.id = h.id
WHERE h.queue = ?1 AND h.kind = ?2 AND h.partition_key > ?3 AND h.id IS NOT NULL
ORDER BY h.partition_key
