UPDATE kiln_job_head SET (priority, scheduled_at, id) = (SELECT * FROM (
        SELECT * FROM (SELECT x.priority, x.scheduled_at, x.id FROM kiln_job AS x INDEXED BY kiln_job_key
            WHERE x.queue = ?1 AND x.kind = ?2 AND x.partition_key = kiln_job_head.partition_key AND x.partition_key <> ''
                AND x.priority = kiln_job_head.priority AND x.scheduled_at >= kiln_job_head.scheduled_at AND x.state = 'available'
            ORDER BY x.priority, x.scheduled_at LIMIT 1)
        UNION ALL
        SELECT * FROM (SELECT x.priority, x.scheduled_at, x.id FROM kiln_job AS x INDEXED BY kiln_job_key
            WHERE x.queue = ?1 AND x.kind = ?2 AND x.partition_key = kiln_job_head.partition_key AND x.partition_key <> ''
                AND x.priority > kiln_job_head.priority AND x.state = 'available'
            ORDER BY x.priority, x.scheduled_at LIMIT 1)) LIMIT 1)
WHERE queue = ?1 AND kind = ?2 AND partition_key IN (SELECT value FROM json_each(?3))
