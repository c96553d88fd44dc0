-- kiln:no-transaction
-- 011_retention: retention rules per kind and queue, set at run time, and
-- the index that lets the cleaner delete one kind's finalized jobs by age,
-- which replaces the index of finalized jobs by state and age.
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- It runs outside a transaction, statement by statement, each idempotent
-- (see migration 010 and Store.Migrate). Creating the table takes no lock
-- on kiln_job. The index is built CONCURRENTLY on a table of
-- ConcurrentIndexMinRows jobs or more: no lock that stops claims, finishes
-- or inserts, kiln_job is not rewritten, and the build reads the table
-- twice (about as long as migration 010's build). It is partial: only the
-- finalized jobs are in it. kiln_job_finalized (001) is dropped once it is
-- built (DROP INDEX CONCURRENTLY: it waits for the transactions using it,
-- stopping none), so that a job that finishes costs one entry in an index
-- of finalized jobs, as before this migration, not two.

-- One row per rule set at run time (kilntype.RetentionRule). Kind and
-- queue are '' for "any"; keep_us is the retention in microseconds, NULL
-- for forever.
CREATE TABLE IF NOT EXISTS {s}.kiln_retention (
    state      text        NOT NULL,
    kind       text        NOT NULL,
    queue      text        NOT NULL,
    keep_us    bigint,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (state, kind, queue)
);

-- Cleaner with rules: the finalized jobs of one state and kind by age, and
-- the kinds present among a state's finalized jobs (a loose index scan).
CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_finalized_kind
    ON {s}.kiln_job (state, kind, finalized_at)
    WHERE finalized_at IS NOT NULL;

-- Replaced by kiln_job_finalized_kind: the cleaner reads each state's
-- kinds, then each kind's range by age, with or without retention rules.
DROP INDEX CONCURRENTLY IF EXISTS {s}.kiln_job_finalized;
