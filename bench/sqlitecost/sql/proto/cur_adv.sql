-- cur: after a claim's UPDATE, each taken key's cursor moves past the job
-- taken (its place, the ID after it); ?4 the JSON array of the IDs taken.
UPDATE kiln_job_partition_key SET c_priority = j.priority, c_scheduled_at = j.scheduled_at, c_id = j.id + 1
FROM kiln_job AS j
WHERE j.id IN (SELECT value FROM json_each(?4))
	AND kiln_job_partition_key.queue = ?1 AND kiln_job_partition_key.kind = ?2
	AND kiln_job_partition_key.partition_key = j.partition_key
