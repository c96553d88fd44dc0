-- kiln:no-transaction
-- 027_finished_index: kiln_job_finished, the finished jobs of each state
-- in ID order, with their kind and queue, for the dashboard's pages of
-- finished jobs (JobList of one final state, newest first) and bounded
-- counts of them.
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- Without it a page of completed, discarded or cancelled jobs walked the
-- primary key newest first through every newer job of another state: on
-- 1,000,000 jobs 46 ms to 1 s a page (docs/benchmarks.md, "Dashboard pages
-- at 1,000,000 jobs"). With it a page reads the entries of its state
-- newest first and checks a kind or queue filter on the entry itself
-- (index conditions on its third and fourth columns), reading from the
-- table only the jobs it lists. A job takes one entry, when it finishes:
-- its finish is never a HOT update (state is in other indexes'
-- predicates), so no update that was HOT stops being so. The predicate
-- names the states, the column every list filters on (JobList adds it as
-- a constant, so that a generic plan can use the index too).
--
-- It runs outside a transaction (see 010_claim_by_kind.sql): on a table of
-- ConcurrentIndexMinRows jobs or more the build is CONCURRENTLY (no lock
-- that stops inserts, claims, finishes or reads; the table is read twice,
-- not rewritten); below, in one transaction, in a moment. It is
-- idempotent: an interrupted build leaves an INVALID index, which the next
-- Migrate drops and builds again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_finished
    ON {s}.kiln_job (state, id, kind, queue)
    WHERE state IN ('completed', 'cancelled', 'discarded');
