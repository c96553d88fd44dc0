-- park: parks the available jobs of the JSON array of IDs ?1 (candidates
-- of keys at their limit), counting the move itself (count.sql after it)
UPDATE kiln_job SET state = 'parked', counted = 1 - counted
WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'available'
