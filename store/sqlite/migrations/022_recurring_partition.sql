-- 022_recurring_partition: the partition key of a recurring entry's jobs
-- (kiln.RecurringJob's Opts.Partition or args' Partitioner), stored with
-- the entry so that each occurrence's job carries it.
--
-- '' means no key. Adding a column with a constant default only changes
-- the schema: existing rows are not rewritten.
ALTER TABLE kiln_recurring ADD COLUMN partition_key TEXT NOT NULL DEFAULT '';
