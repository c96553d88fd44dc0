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
	last_error, partition_key, 0 AS keyed FROM kiln_job INDEXED BY kiln_job_claim_untagged
WHERE state = 'available' AND fair_seq IS NULL AND queue = (SELECT queue FROM unpaused) AND kind = ?5 AND scheduled_at <= ?2
UNION ALL
SELECT * FROM (SELECT id, kind, NULL AS queue, NULL AS args, priority, 0 AS attempt, 0 AS max_attempts,
	0 AS created_at, scheduled_at, NULL AS tags, NULL AS metadata, NULL AS unique_key, NULL AS last_error,
	'' AS partition_key, 1 AS keyed FROM kiln_job INDEXED BY kiln_job_claim_fair
WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL AND queue = (SELECT queue FROM unpaused) AND kind = ?5 AND scheduled_at <= ?2
ORDER BY priority, fair_seq, id LIMIT 128)
UNION ALL
SELECT id, kind, NULL AS queue, args, priority, attempt, max_attempts, created_at,
	scheduled_at, nullif(tags, '[]') AS tags, nullif(metadata, '{}') AS metadata, unique_key,
	last_error, partition_key, 0 AS keyed FROM kiln_job INDEXED BY kiln_job_claim_waiting
WHERE state IN ('scheduled', 'retryable') AND queue = ?1
	AND priority IN (SELECT p FROM prio WHERE p IS NOT NULL) AND scheduled_at <= ?2
	AND (?3 IS NULL OR kind IN (SELECT value FROM json_each(?3)))
	AND (?4 IS NULL OR kind NOT IN (SELECT value FROM json_each(?4)))
ORDER BY priority, scheduled_at, id
LIMIT 128
