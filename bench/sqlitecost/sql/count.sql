INSERT INTO kiln_job_count (queue, state, jobs, finished)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?1) WHERE true
ON CONFLICT (queue, state) DO UPDATE SET
	jobs = jobs + excluded.jobs, finished = finished + excluded.finished