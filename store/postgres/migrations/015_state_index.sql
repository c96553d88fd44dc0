-- kiln:no-transaction
-- 015_state_index: kiln_job_state, which held one entry per job in every
-- state, holds only the states between available and finalized (running,
-- scheduled, retryable, pending): an insert and a finish each write one
-- index entry fewer, a job's life six instead of eight.
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- It runs outside a transaction, statement by statement, each idempotent
-- (see migration 010 and Store.Migrate): on a table of
-- ConcurrentIndexMinRows jobs or more the index is built CONCURRENTLY (no
-- lock that stops claims, finishes or inserts; kiln_job is not rewritten)
-- and the old one dropped CONCURRENTLY once it is built.
--
-- What reads jobs by state now: the rescuer, the running counts of
-- cluster-wide limits, the lists of running, scheduled, retryable and
-- pending jobs read kiln_job_state_inflight in ID order. Lists of
-- available jobs walk the primary key newest first, or read
-- kiln_job_claim_kind and sort when few jobs are available (the planner
-- chooses from the table's statistics); lists of finalized jobs do the
-- same with kiln_job_finalized_kind.
CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_state_inflight ON {s}.kiln_job (state, id)
    WHERE state IN ('running', 'scheduled', 'retryable', 'pending');

-- Replaced by kiln_job_state_inflight.
DROP INDEX CONCURRENTLY IF EXISTS {s}.kiln_job_state;
