UPDATE kiln_job_head SET id = (SELECT j.id FROM kiln_job AS j INDEXED BY kiln_job_key
        WHERE j.queue = ?1 AND j.kind = ?2 AND j.partition_key = kiln_job_head.partition_key AND j.partition_key <> ''
            AND j.state = 'available'
            AND (j.priority, j.scheduled_at) >= (SELECT priority, scheduled_at FROM kiln_job WHERE id = kiln_job_head.id)
        ORDER BY j.priority, j.scheduled_at LIMIT 1)
WHERE queue = ?1 AND kind = ?2 AND partition_key IN (SELECT value FROM json_each(?3))
