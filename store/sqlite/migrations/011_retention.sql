-- 011_retention: retention rules per kind and queue, set at run time, and
-- the index that lets the cleaner delete one kind's finalized jobs by age.
--
-- Building the index reads every finalized job once, holding the write
-- lock: on a file with millions of finished jobs, expect seconds during
-- which no job is enqueued, claimed or finished. It costs one index entry
-- more per job that finishes.

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
