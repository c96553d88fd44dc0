-- 005_queues: queues paused for every process sharing the database.
--
-- A queue has a row once it has been paused (resuming keeps the row, with
-- paused 0). JobClaim looks its queue up here by primary key, once per
-- claim; a queue without a row is not paused.
CREATE TABLE kiln_queue (
    name       TEXT    NOT NULL PRIMARY KEY,
    paused     INTEGER NOT NULL CHECK (paused IN (0, 1)),
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
