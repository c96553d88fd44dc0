-- kiln:no-transaction
-- 025_predicate_order: kiln_job_partition (migration 024) and
-- kiln_job_cancel_requested (migration 001) are built again with the same
-- keys and the same predicates, their conditions in another order: the one
-- that almost every job fails first.
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- PostgreSQL evaluates the predicate of every partial index of kiln_job on
-- each row that an INSERT writes and on each new row version of an UPDATE
-- that is not HOT (a claim, a finish), whether or not the index gets an
-- entry, and evaluates its conditions in the order written, stopping at the
-- first false one. kiln_job_partition's state IN ('available', 'running')
-- holds for every job that is inserted or claimed, so each of them also
-- paid the array comparison before partition_key <> '' ruled it out (a job
-- without a partition key, the default); kiln_job_cancel_requested's state
-- = 'running' holds for every claimed job, before cancel_requested_at IS
-- NOT NULL ruled it out. The index entries are the same; the claims by
-- partition key and the cancel polling find them as before. Counted: 1.6k
-- database instructions fewer per job of a burn-down (docs/benchmarks.md,
-- "PostgreSQL: what each index of kiln_job costs").
--
-- It runs outside a transaction (see 010_claim_by_kind.sql), statement by
-- statement, each idempotent: on a table of ConcurrentIndexMinRows jobs or
-- more each index is built CONCURRENTLY under a new name (a SHARE UPDATE
-- EXCLUSIVE lock: inserts, claims, finishes and reads go on; the build reads
-- the table twice, and holds only the jobs with a partition key that are
-- available or running, and the running jobs with a cancel request), the
-- old one is dropped CONCURRENTLY, and the new one takes the old name
-- (ALTER INDEX ... RENAME: SHARE UPDATE EXCLUSIVE on the index, a moment).
-- Claims by partition key and the cancel polling read the old index until
-- it is dropped and the new one from then on: the same entries in the same
-- order. An interrupted run is completed by the next Migrate (the new
-- index, if already renamed, is built once more).
CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_partition_025
    ON {s}.kiln_job (kind, partition_key, state DESC, queue, priority, scheduled_at, id)
    WHERE partition_key <> '' AND state IN ('available', 'running');
DROP INDEX CONCURRENTLY IF EXISTS {s}.kiln_job_partition;
ALTER INDEX IF EXISTS {s}.kiln_job_partition_025 RENAME TO kiln_job_partition;

CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_cancel_requested_025 ON {s}.kiln_job (leased_by)
    WHERE cancel_requested_at IS NOT NULL AND state = 'running';
DROP INDEX CONCURRENTLY IF EXISTS {s}.kiln_job_cancel_requested;
ALTER INDEX IF EXISTS {s}.kiln_job_cancel_requested_025 RENAME TO kiln_job_cancel_requested;
