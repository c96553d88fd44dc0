UPDATE kiln_job_head SET (priority, scheduled_at, id) = (SELECT x.priority, x.scheduled_at, x.id
        FROM kiln_job AS x INDEXED BY kiln_job_claim_partition
        WHERE x.state = 'available' AND x.queue = ?1 AND x.kind = ?2 AND x.partition_key = kiln_job_head.partition_key
            AND x.partition_key <> '' ORDER BY x.priority, x.scheduled_at LIMIT 1)
WHERE queue = ?1 AND kind = ?2 AND partition_key IN (SELECT value FROM json_each(?3))
