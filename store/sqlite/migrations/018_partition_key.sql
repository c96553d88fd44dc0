-- 018_partition_key: a job's partition key (kiln.EnqueueOpts.Partition,
-- kiln.Partitioner), the key that per-key concurrency limits, fair claims
-- and per-key rate limits group jobs by.
--
-- '' means no key. Adding a column with a constant default only changes
-- the schema: existing rows are not rewritten.
ALTER TABLE kiln_job ADD COLUMN partition_key TEXT NOT NULL DEFAULT '';
