-- 016_outputs: what a worker records as its job's output (Job.SetOutput).
--
-- output is the JSON text a completed attempt recorded (NULL: none),
-- written in the transaction that completes the job. Adding a nullable
-- column only changes the schema: existing rows are not rewritten.
ALTER TABLE kiln_job ADD COLUMN output TEXT;
