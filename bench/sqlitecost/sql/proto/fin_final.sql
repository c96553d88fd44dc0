UPDATE kiln_job SET
	state = CASE WHEN kiln_job.cancel_requested_at IS NOT NULL AND f.column3 IN ('retryable', 'scheduled', 'available')
		THEN 'cancelled' ELSE f.column3 END,
	finalized_at = CASE WHEN kiln_job.cancel_requested_at IS NOT NULL AND f.column3 IN ('retryable', 'scheduled', 'available')
		THEN f.column9 ELSE f.column6 END,

	attempt = max(kiln_job.attempt - f.column5, 0),
	last_error = coalesce(f.column7, kiln_job.last_error),
	attempted_by = f.column10,
	leased_by = NULL, lease_expires_at = NULL, cancel_requested_at = NULL,
	counted = 1 - kiln_job.counted
FROM (VALUES /*ROWS*/) AS f
WHERE kiln_job.id = f.column1 AND kiln_job.state = 'running' AND kiln_job.leased_by = f.column2
	AND (f.column8 IS NULL OR kiln_job.attempted_at = f.column8)
RETURNING kiln_job.id, kiln_job.queue, kiln_job.state