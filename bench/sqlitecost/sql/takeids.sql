SELECT id, kind, NULL AS queue, args, priority, attempt, max_attempts, created_at,
	scheduled_at, nullif(tags, '[]') AS tags, nullif(metadata, '{}') AS metadata, unique_key,
	last_error, '' FROM kiln_job NOT INDEXED
WHERE id IN (SELECT value FROM json_each(?4))
	AND state = 'available' AND queue = ?1 AND kind = ?2 AND scheduled_at <= ?3
	AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
