-- 016_outputs: what a worker records as its job's output (Job.SetOutput).
--
-- {s} stands for the store's schema (Options.Schema), quoted. output is
-- the JSON a completed attempt recorded (NULL: none), written by the
-- statement that completes the job. A nullable column without a default
-- is added to the catalog only: no table rewrite, no scan, whatever the
-- number of jobs. It is not indexed, so writing it keeps updates HOT.
ALTER TABLE {s}.kiln_job ADD COLUMN output jsonb;
