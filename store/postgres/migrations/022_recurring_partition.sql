-- 022_recurring_partition: the partition key of a recurring entry's jobs
-- (kiln.RecurringJob's Opts.Partition or args' Partitioner), stored with
-- the entry so that each occurrence's job carries it.
--
-- {s} stands for the store's schema (Options.Schema), quoted. '' means no
-- key; COLLATE "C" as kiln_job.partition_key (migration 018). A NOT NULL
-- column with a constant default is added to the catalog only: no table
-- rewrite.
ALTER TABLE {s}.kiln_recurring ADD COLUMN partition_key text COLLATE "C" NOT NULL DEFAULT '';
