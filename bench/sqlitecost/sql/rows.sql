SELECT id, kind, NULL AS queue, args, priority, attempt, max_attempts, created_at,
	scheduled_at, nullif(tags, '[]') AS tags, nullif(metadata, '{}') AS metadata, unique_key,
	last_error, partition_key FROM kiln_job WHERE id IN (SELECT value FROM json_each(?1))
