-- 005_queues: queues paused for every process sharing the database.
--
-- {s} stands for the store's schema (Options.Schema), quoted. A queue has
-- a row once it has been paused (resuming keeps the row, with paused
-- false). JobClaim looks its queue up here by primary key, once per claim;
-- a queue without a row is not paused.
CREATE TABLE {s}.kiln_queue (
    name       text        PRIMARY KEY,
    paused     boolean     NOT NULL,
    updated_at timestamptz NOT NULL
);
