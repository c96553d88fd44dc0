WITH RECURSIVE keys(v, i, prev, found) AS (
	SELECT ' ' || ?3, 0, NULL, 0
	UNION ALL
	SELECT (SELECT id || ' ' || partition_key FROM kiln_job INDEXED BY kiln_job_claim_partition
			WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key <> ''
				AND partition_key > substr(keys.v, instr(keys.v, ' ') + 1)
			ORDER BY partition_key LIMIT 1),
		keys.i + 1,
		CASE WHEN keys.i > 0 THEN (SELECT count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
			WHERE state = 'running' AND kind = ?2 AND partition_key = substr(keys.v, instr(keys.v, ' ') + 1)
				AND partition_key <> '') END,
		keys.found + coalesce(keys.prev < ?6, 0)
	FROM keys
	WHERE keys.v IS NOT NULL AND keys.i <= ?5 AND keys.found + coalesce(keys.prev < ?6, 0) < ?4
)
SELECT group_concat(coalesce(v, '') || char(0) || coalesce(prev, ''), char(0) ORDER BY i) FROM keys WHERE i > 0
