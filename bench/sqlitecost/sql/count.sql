INSERT INTO kiln_job_count (queue, state, jobs, finished) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (queue, state) DO UPDATE SET
	jobs = jobs + excluded.jobs, finished = finished + excluded.finished
