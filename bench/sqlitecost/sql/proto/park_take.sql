-- park: claims parked jobs (the sweep's, of keys with room): the claim's
-- UPDATE (claimupd.sql) from the state 'parked'
UPDATE kiln_job SET state = 'running', attempt = attempt + 1,
	attempted_at = ?1, leased_by = ?2, lease_expires_at = ?3, cancel_requested_at = NULL,
	counted = 1 - counted
WHERE id IN (SELECT value FROM json_each(?4)) AND state = 'parked'
