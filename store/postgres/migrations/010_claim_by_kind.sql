-- kiln:no-transaction
-- 010_claim_by_kind: claims read only the jobs of the kinds they can run,
-- and kiln_job has two indexes fewer to write on every state change.
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- The first line makes Migrate run this file outside a transaction, one
-- statement at a time, under a session advisory lock, and record it in
-- kiln_migration only once every statement succeeded (see Store.Migrate).
-- Each statement is idempotent, so a run that was interrupted is run again
-- from the start; an index that an interrupted CREATE INDEX CONCURRENTLY
-- left INVALID is dropped before. None of them takes a lock that stops
-- claims, finishes or inserts, and none rewrites kiln_job: the migration
-- is safe on a live table of 10,000,000 jobs (building the index reads
-- the table twice: 41 s for 10,000,000 jobs on the development machine,
-- jobs running meanwhile). On a table of fewer than
-- ConcurrentIndexMinRows jobs it runs instead in one transaction, without
-- CONCURRENTLY, in a moment.

-- New pages keep 10% free, so that a lease renewal or a progress write
-- (columns in no index) finds room on its job's page: a HOT update, no
-- index entry. It changes only the catalog (SHARE UPDATE EXCLUSIVE lock,
-- which inserts, claims and finishes do not wait for); pages written
-- before keep their fill until vacuum frees them.
ALTER TABLE {s}.kiln_job SET (fillfactor = 90);

-- Claim: available jobs of a queue and kind in claim order. A claim reads
-- one range per kind it can run and merges them in claim order, so that it
-- reads about as many entries as it takes jobs, however many jobs of other
-- kinds wait ahead of them in the queue.
CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_claim_kind
    ON {s}.kiln_job (queue, kind, priority, scheduled_at, id)
    WHERE state = 'available';

-- Replaced by kiln_job_claim_kind.
DROP INDEX CONCURRENTLY IF EXISTS {s}.kiln_job_claim_available;

-- JobList's kind and queue filters walk kiln_job_state or the primary key
-- instead, filtering (the dashboard's counts come from the counters of
-- migration 007, not from lists): one index entry fewer per job and state
-- change each.
DROP INDEX CONCURRENTLY IF EXISTS {s}.kiln_job_kind;
DROP INDEX CONCURRENTLY IF EXISTS {s}.kiln_job_queue;
