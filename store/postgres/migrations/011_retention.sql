-- kiln:no-transaction
-- 011_retention: retention rules per kind and queue, set at run time, and
-- the index that lets the cleaner delete one kind's finalized jobs by age.
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- It runs outside a transaction, statement by statement, each idempotent
-- (see migration 010 and Store.Migrate). Creating the table takes no lock
-- on kiln_job. The index is built CONCURRENTLY on a table of
-- ConcurrentIndexMinRows jobs or more: no lock that stops claims, finishes
-- or inserts, kiln_job is not rewritten, and the build reads the table
-- twice (about as long as migration 010's build). It is partial: only the
-- finalized jobs are in it. It costs one index entry more per job that
-- finishes.

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
