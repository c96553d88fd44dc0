-- kiln:no-transaction
-- 024_partition_index: one index for claims by partition key, where there
-- were two (020).
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- The first line makes Migrate run this file outside a transaction, one
-- statement at a time (see 010_claim_by_kind.sql): each statement is
-- idempotent, none takes a lock that stops claims, finishes or inserts,
-- and on a table of fewer than ConcurrentIndexMinRows jobs it runs in one
-- transaction, without CONCURRENTLY. Claims keep working meanwhile: until
-- the new index is built they read the two of 020 (or, once those are
-- dropped, the new one), the same rows in the same order.
--
-- Like those of 020, it holds only jobs with a key: jobs enqueued without
-- one (the default) add no entry to it.

-- Available and running jobs with a key, by kind and key, each key's
-- running jobs first (state DESC), then its available jobs by queue in
-- claim order. A claim under a per-key limit walks a kind's keys with one
-- seek each, which lands on the key's first running job (the key is at a
-- limit of 1: no need to read further) or, when none runs, on its first
-- available job, the one to take: where 020 needed a seek of
-- kiln_job_claim_partition and a count in kiln_job_running_partition per
-- key. A job moving from available to running adds one entry, as it did
-- to kiln_job_running_partition.
CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_partition
    ON {s}.kiln_job (kind, partition_key, state DESC, queue, priority, scheduled_at, id)
    WHERE state IN ('available', 'running') AND partition_key <> '';

-- Replaced by kiln_job_partition.
DROP INDEX CONCURRENTLY IF EXISTS {s}.kiln_job_claim_partition;
DROP INDEX CONCURRENTLY IF EXISTS {s}.kiln_job_running_partition;
