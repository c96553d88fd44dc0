-- park, the running jobs per candidate: the plain candidates
-- (cand128.sql, sqlClaimCandidates(128, 1)) with, last, each row's running
-- jobs of its key (one seek of kiln_job_running_partition per row, 0 for
-- a job without a key), for PARK=1 PARKRUN=none HYBRID=proto/park_cand_run.sql
WITH RECURSIVE unpaused(queue) AS MATERIALIZED (
	SELECT ?1 WHERE NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
),
prio(p) AS (
	SELECT (SELECT min(priority) FROM kiln_job INDEXED BY kiln_job_claim_waiting
		WHERE state IN ('scheduled', 'retryable') AND queue = (SELECT queue FROM unpaused))
	UNION ALL
	SELECT (SELECT min(priority) FROM kiln_job INDEXED BY kiln_job_claim_waiting
		WHERE state IN ('scheduled', 'retryable') AND queue = ?1 AND priority > prio.p)
	FROM prio WHERE prio.p IS NOT NULL
)
SELECT id, kind, NULL AS queue, args, priority, attempt, max_attempts, created_at,
	scheduled_at, nullif(tags, '[]') AS tags, nullif(metadata, '{}') AS metadata, unique_key,
	last_error, partition_key, (SELECT count(*) FROM kiln_job AS r INDEXED BY kiln_job_running_partition
		WHERE r.state = 'running' AND r.kind = kiln_job.kind AND r.partition_key = kiln_job.partition_key
			AND r.partition_key <> '') AS running FROM kiln_job INDEXED BY kiln_job_claim_kind
WHERE state = 'available' AND queue = (SELECT queue FROM unpaused) AND kind = ?5 AND scheduled_at <= ?2
UNION ALL
SELECT id, kind, NULL AS queue, args, priority, attempt, max_attempts, created_at,
	scheduled_at, nullif(tags, '[]') AS tags, nullif(metadata, '{}') AS metadata, unique_key,
	last_error, partition_key, (SELECT count(*) FROM kiln_job AS r INDEXED BY kiln_job_running_partition
		WHERE r.state = 'running' AND r.kind = kiln_job.kind AND r.partition_key = kiln_job.partition_key
			AND r.partition_key <> '') AS running FROM kiln_job INDEXED BY kiln_job_claim_waiting
WHERE state IN ('scheduled', 'retryable') AND queue = ?1
	AND priority IN (SELECT p FROM prio WHERE p IS NOT NULL) AND scheduled_at <= ?2
	AND (?3 IS NULL OR kind IN (SELECT value FROM json_each(?3)))
	AND (?4 IS NULL OR kind NOT IN (SELECT value FROM json_each(?4)))
ORDER BY priority, scheduled_at, id
LIMIT 128