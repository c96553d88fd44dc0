-- 003_continuations: jobs that wait for other jobs, and batches.

-- A continuation's parents: the child stays pending until every parent has
-- ended. on_failure (the child's ParentFailure) is the same on all its rows.
CREATE TABLE kiln_job_parent (
    child_id   INTEGER NOT NULL,
    parent_id  INTEGER NOT NULL,
    on_failure TEXT    NOT NULL CHECK (on_failure IN ('cancel', 'run')),
    PRIMARY KEY (child_id, parent_id)
) STRICT, WITHOUT ROWID;

-- The cleaner keeps parents that pending children wait on.
CREATE INDEX kiln_job_parent_parent ON kiln_job_parent (parent_id);

-- Batches: a group of jobs and an optional callback job, whose parents are
-- the batch's jobs.
CREATE TABLE kiln_batch (
    id              TEXT    NOT NULL PRIMARY KEY,
    created_at      INTEGER NOT NULL,
    callback_job_id INTEGER
) STRICT;

CREATE TABLE kiln_batch_job (
    batch_id TEXT    NOT NULL REFERENCES kiln_batch (id) ON DELETE CASCADE,
    job_id   INTEGER NOT NULL,
    PRIMARY KEY (batch_id, job_id)
) STRICT, WITHOUT ROWID;

-- The resolver reads the pending jobs through kiln_job_state; the callback
-- of a batch is found by its job ID.
CREATE INDEX kiln_batch_callback ON kiln_batch (callback_job_id) WHERE callback_job_id IS NOT NULL;

-- A deleted child takes its parent rows with it (a deleted parent's rows
-- stay: the child sees that parent as deleted).
CREATE TRIGGER kiln_job_parent_cleanup AFTER DELETE ON kiln_job
WHEN OLD.state = 'pending' OR EXISTS (SELECT 1 FROM kiln_job_parent WHERE child_id = OLD.id)
BEGIN
    DELETE FROM kiln_job_parent WHERE child_id = OLD.id;
END;
