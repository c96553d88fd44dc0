-- 002_recurring: recurring entries and the occurrences they enqueued.
--
-- Times are INTEGER Unix microseconds, UTC, as in kiln_job. Text columns
-- that hold JSON (args, tags, metadata) are stored as given by the client.

CREATE TABLE kiln_recurring (
    id           TEXT    NOT NULL PRIMARY KEY,
    schedule     TEXT    NOT NULL,
    time_zone    TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    args         TEXT    NOT NULL,
    queue        TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    tags         TEXT    NOT NULL DEFAULT '[]',
    metadata     TEXT    NOT NULL DEFAULT '{}',
    overlap      TEXT    NOT NULL,
    misfire      TEXT    NOT NULL,
    misfire_max  INTEGER NOT NULL,
    paused       INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    next_run_at  INTEGER NOT NULL,
    last_run_at  INTEGER,
    last_job_id  INTEGER,
    last_error   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

-- Scheduler: entries that are not paused, earliest next run first (ties by
-- ID, so that a page of due entries is stable). Serves RecurringNextDue and
-- RecurringListDue.
CREATE INDEX kiln_recurring_due ON kiln_recurring (next_run_at, id) WHERE paused = 0;

-- One row per enqueued occurrence: the primary key is what makes two
-- schedulers racing on an occurrence enqueue one job between them (the row
-- is written in the job's transaction). Rows go with their entry; job_id
-- has no foreign key, so deleting a job (JobDelete, the cleaner) leaves
-- the row pointing at a gone job, which counts as finished. kiln_job IDs
-- are AUTOINCREMENT, never reused, so such a row never names another job.
CREATE TABLE kiln_recurring_occurrence (
    recurring_id  TEXT    NOT NULL REFERENCES kiln_recurring (id) ON DELETE CASCADE,
    occurrence_at INTEGER NOT NULL,
    job_id        INTEGER NOT NULL,
    PRIMARY KEY (recurring_id, occurrence_at)
) STRICT, WITHOUT ROWID;
