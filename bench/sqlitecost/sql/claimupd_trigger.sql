UPDATE kiln_job SET state = 'running', attempt = attempt + 1,
	attempted_at = ?1, leased_by = ?2, lease_expires_at = ?3, cancel_requested_at = NULL
WHERE id IN (SELECT value FROM json_each(?4)) AND state <> 'running'
