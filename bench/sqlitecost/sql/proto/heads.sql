SELECT h.partition_key, h.id, (SELECT count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
        WHERE state = 'running' AND kind = ?2 AND partition_key = h.partition_key AND partition_key <> '')
FROM kiln_job_head AS h WHERE h.queue = ?1 AND h.kind = ?2 AND h.partition_key > ?3 AND h.id IS NOT NULL
ORDER BY h.partition_key
