UPDATE kiln_job_head SET id = (SELECT id FROM kiln_job INDEXED BY kiln_job_claim_partition
        WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key = kiln_job_head.partition_key
            AND partition_key <> '' ORDER BY priority, scheduled_at LIMIT 1)
WHERE queue = ?1 AND kind = ?2 AND partition_key IN (SELECT value FROM json_each(?3))
