-- 002_recurring: recurring entries and the occurrences they enqueued.
--
-- {s} stands for the store's schema (Options.Schema), quoted. Entry IDs
-- have the "C" collation: they sort bytewise, as in the SQLite store.

CREATE TABLE {s}.kiln_recurring (
    id           text COLLATE "C" PRIMARY KEY,
    schedule     text        NOT NULL,
    time_zone    text        NOT NULL,
    kind         text        NOT NULL,
    args         jsonb       NOT NULL,
    queue        text        NOT NULL,
    priority     integer     NOT NULL,
    max_attempts integer     NOT NULL,
    tags         text[]      NOT NULL DEFAULT '{}',
    metadata     jsonb       NOT NULL DEFAULT '{}',
    overlap      text        NOT NULL,
    misfire      text        NOT NULL,
    misfire_max  integer     NOT NULL,
    paused       boolean     NOT NULL DEFAULT false,
    next_run_at  timestamptz NOT NULL,
    last_run_at  timestamptz,
    last_job_id  bigint,
    last_error   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- Scheduler: entries that are not paused, earliest next run first (ties by
-- ID, so that a page of due entries is stable). Serves RecurringNextDue and
-- RecurringListDue.
CREATE INDEX kiln_recurring_due ON {s}.kiln_recurring (next_run_at, id) WHERE NOT paused;

-- One row per enqueued occurrence: the primary key is what makes two
-- schedulers racing on an occurrence enqueue one job between them (the row
-- is written in the job's transaction). Rows go with their entry; job_id
-- has no foreign key, so deleting a job (JobDelete, the cleaner) leaves
-- the row pointing at a gone job, which counts as finished. kiln_job IDs
-- come from an identity column, never reused, so such a row never names
-- another job.
CREATE TABLE {s}.kiln_recurring_occurrence (
    recurring_id  text COLLATE "C" NOT NULL REFERENCES {s}.kiln_recurring (id) ON DELETE CASCADE,
    occurrence_at timestamptz NOT NULL,
    job_id        bigint      NOT NULL,
    PRIMARY KEY (recurring_id, occurrence_at)
);
