UPDATE kiln_job SET
	state = 'completed', finalized_at = f.column3, attempted_by = ?2,
	leased_by = NULL, lease_expires_at = NULL, cancel_requested_at = NULL,
	counted = 1 - kiln_job.counted
FROM (VALUES /*ROWS*/) AS f
WHERE kiln_job.id = f.column1 AND kiln_job.state = 'running' AND kiln_job.leased_by = ?1
	AND kiln_job.attempted_at = f.column2
RETURNING kiln_job.id, kiln_job.queue, kiln_job.state
