-- hyb2 without kiln_job_running_partition (running jobs per key kept in
-- memory, HYBMEM=1; the count is 0 here, as a bound of the cost): cur's listing of the table of keys with a cursor per key (cur_pre.sql):
-- each key's first available job sought from its cursor in the state-free
-- kiln_job_claim_partition, in three seeks (the same place and a later ID,
-- the same priority and a later time, a later priority), one UNION ALL.
SELECT k.partition_key, j.id,
	0,
	j.args, coalesce(j.priority, 0), coalesce(j.attempt, 0), coalesce(j.max_attempts, 0),
	coalesce(j.created_at, 0), coalesce(j.scheduled_at, 0), nullif(j.tags, '[]'), nullif(j.metadata, '{}'),
	j.unique_key, j.last_error,
	EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
FROM kiln_job_partition_key AS k
LEFT JOIN kiln_job AS j ON j.id = (SELECT id FROM (
		SELECT * FROM (SELECT x.id FROM kiln_job AS x INDEXED BY kiln_job_claim_partition
			WHERE x.queue = ?1 AND x.kind = ?2 AND x.partition_key = k.partition_key AND x.partition_key <> ''
				AND x.priority = k.c_priority AND x.scheduled_at = k.c_scheduled_at AND x.id >= k.c_id
				AND x.state = 'available'
			ORDER BY x.id LIMIT 1)
		UNION ALL
		SELECT * FROM (SELECT x.id FROM kiln_job AS x INDEXED BY kiln_job_claim_partition
			WHERE x.queue = ?1 AND x.kind = ?2 AND x.partition_key = k.partition_key AND x.partition_key <> ''
				AND x.priority = k.c_priority AND x.scheduled_at > k.c_scheduled_at AND x.state = 'available'
			ORDER BY x.scheduled_at LIMIT 1)
		UNION ALL
		SELECT * FROM (SELECT x.id FROM kiln_job AS x INDEXED BY kiln_job_claim_partition
			WHERE x.queue = ?1 AND x.kind = ?2 AND x.partition_key = k.partition_key AND x.partition_key <> ''
				AND x.priority > k.c_priority AND x.state = 'available'
			ORDER BY x.priority, x.scheduled_at LIMIT 1)) LIMIT 1)
WHERE k.queue = ?1 AND k.kind = ?2 AND k.partition_key > ?3
ORDER BY k.partition_key
