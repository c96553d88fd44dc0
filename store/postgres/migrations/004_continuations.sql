-- 004_continuations: jobs that wait for other jobs, and batches.
--
-- {s} stands for the store's schema (Options.Schema), quoted. Batch IDs
-- have the "C" collation: they sort bytewise, as in the SQLite store.

-- A continuation's parents: the child stays pending until every parent has
-- ended. on_failure (the child's ParentFailure) is the same on all its rows.
-- A deleted child takes its parent rows with it: child_id's foreign key
-- cascades (PostgreSQL runs it as a trigger, for every way a job is
-- deleted: JobDelete, the cleaner, or a statement of the operator's). A
-- deleted parent's rows stay, so parent_id has no foreign key: the child
-- sees that parent as deleted. kiln_job IDs are never reused, so such a
-- row never names another job.
CREATE TABLE {s}.kiln_job_parent (
    child_id   bigint NOT NULL REFERENCES {s}.kiln_job (id) ON DELETE CASCADE,
    parent_id  bigint NOT NULL,
    on_failure text   NOT NULL CHECK (on_failure IN ('cancel', 'run')),
    PRIMARY KEY (child_id, parent_id)
);

-- The cleaner keeps parents that pending children wait on.
CREATE INDEX kiln_job_parent_parent ON {s}.kiln_job_parent (parent_id);

-- The resolver reads the pending jobs in ID order. kiln_job_state would
-- serve it too, but the planner, which costs its heap reads as random
-- (the state column does not follow the table's order), prefers to walk
-- the primary key and filter, reading every job; this small index holds
-- the pending jobs only.
CREATE INDEX kiln_job_pending ON {s}.kiln_job (id) WHERE state = 'pending';

-- Batches: a group of jobs and an optional callback job, whose parents are
-- the batch's jobs.
CREATE TABLE {s}.kiln_batch (
    id              text COLLATE "C" PRIMARY KEY,
    created_at      timestamptz NOT NULL,
    callback_job_id bigint
);

-- The resolver finds the batch of a callback by the callback's job ID.
CREATE INDEX kiln_batch_callback ON {s}.kiln_batch (callback_job_id)
    WHERE callback_job_id IS NOT NULL;

-- A batch's members. job_id has no foreign key: a member deleted by the
-- cleaner stays in the batch's Total, but no longer in its Counts.
CREATE TABLE {s}.kiln_batch_job (
    batch_id text COLLATE "C" NOT NULL REFERENCES {s}.kiln_batch (id) ON DELETE CASCADE,
    job_id   bigint NOT NULL,
    PRIMARY KEY (batch_id, job_id)
);
