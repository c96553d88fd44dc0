-- 011_retention: retention rules per kind and queue, set at run time, and
-- the index that lets the cleaner delete one kind's finalized jobs by age,
-- which replaces the index of finalized jobs by state and age.
--
-- Building the index reads every finalized job once, holding the write
-- lock: on a file with millions of finished jobs, expect seconds during
-- which no job is enqueued, claimed or finished. kiln_job_finalized (001)
-- is dropped after it, so that a job that finishes costs one entry in an
-- index of finalized jobs, as before this migration, not two.

-- One row per rule set at run time (kilntype.RetentionRule). Kind and
-- queue are '' for "any"; keep_us is the retention in microseconds, NULL
-- for forever; updated_at is in microseconds since the epoch.
CREATE TABLE kiln_retention (
    state      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    queue      TEXT    NOT NULL,
    keep_us    INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (state, kind, queue)
) WITHOUT ROWID;

-- Cleaner with rules: the finalized jobs of one state and kind by age, and
-- the kinds present among a state's finalized jobs (a loose index scan).
CREATE INDEX kiln_job_finalized_kind ON kiln_job (state, kind, finalized_at)
    WHERE finalized_at IS NOT NULL;

-- Replaced by kiln_job_finalized_kind: the cleaner reads each state's
-- kinds, then each kind's range by age, with or without retention rules.
DROP INDEX IF EXISTS kiln_job_finalized;
