-- 030_partition_key_nullable: kiln_job.partition_key may be NULL, the
-- expand step of writing NULL instead of '' for a job without a partition
-- key (031 is the contract step).
--
-- {s} stands for the store's schema (Options.Schema), quoted. DROP NOT
-- NULL changes the catalog only: no scan, no rewrite; its ACCESS
-- EXCLUSIVE lock is held for a moment, and given up after 2 s
-- (lock_timeout) when a long transaction holds kiln_job, so that the
-- table's other users never wait behind it longer (Store.Migrate runs it
-- again after a pause).
--
-- Builds from this migration on read a NULL partition_key as '' (no key)
-- in every statement and scan, and insert a job without a key by leaving
-- the column out, so that its default applies: '' while the default is
-- there. No NULL is written until 031 drops the default, so builds before
-- this one, which scan the column into a string, run beside it unchanged.
SET LOCAL lock_timeout = '2s';
ALTER TABLE {s}.kiln_job ALTER COLUMN partition_key DROP NOT NULL;
