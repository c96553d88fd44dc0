-- 007_job_stats: job counts per queue and state, the attempts that ended
-- in each, and their history per minute, so that reading them never scans
-- the jobs.
--
-- Row triggers keep kiln_job_count in the transaction of every change to
-- kiln_job (a Store's, another process's or an operator's): SQLite has one
-- writer at a time, so they update it in place, one UPSERT of a small row
-- per change, on pages the writer keeps in its cache. The history costs
-- the jobs' writes nothing more: JobStatsFold (the maintenance leader's,
-- every few seconds) adds what the "finished" counters gained since the
-- last fold to the minute of its Now.

-- For each queue and state: jobs, the jobs in it now; finished, the
-- attempts that moved a job of the queue from running to this state since
-- this migration (monotonic: completed, retryable, discarded, cancelled,
-- scheduled when snoozed, available when given back at shutdown); and
-- recorded, the value of finished that the history holds. A pair without
-- jobs or finished attempts keeps its row until JobStatsFold deletes it.
CREATE TABLE kiln_job_count (
    queue    TEXT    NOT NULL,
    state    TEXT    NOT NULL,
    jobs     INTEGER NOT NULL,
    finished INTEGER NOT NULL DEFAULT 0,
    recorded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, state)
) STRICT, WITHOUT ROWID;

-- Attempts that completed their job, or failed it (retryable or
-- discarded), per minute (Unix microseconds of the minute's start, UTC) of
-- the fold that recorded them, of every queue together and of each queue:
-- a graph of all queues reads one row per minute however many queues there
-- are. JobStatsFold writes them and deletes the minutes older than the
-- retention it is given.
CREATE TABLE kiln_job_history (
    minute    INTEGER NOT NULL PRIMARY KEY,
    completed INTEGER NOT NULL,
    failed    INTEGER NOT NULL
) STRICT;

CREATE TABLE kiln_job_queue_history (
    queue     TEXT    NOT NULL,
    minute    INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    failed    INTEGER NOT NULL,
    PRIMARY KEY (queue, minute)
) STRICT, WITHOUT ROWID;

-- JobStatsFold deletes old minutes of every queue.
CREATE INDEX kiln_job_queue_history_minute ON kiln_job_queue_history (minute);

-- The jobs present when the migration runs (it holds the write lock).
INSERT INTO kiln_job_count (queue, state, jobs)
SELECT queue, state, count(*) FROM kiln_job GROUP BY queue, state;

CREATE TRIGGER kiln_job_count_insert AFTER INSERT ON kiln_job
BEGIN
    INSERT INTO kiln_job_count (queue, state, jobs) VALUES (NEW.queue, NEW.state, 1)
    ON CONFLICT (queue, state) DO UPDATE SET jobs = jobs + 1;
END;

CREATE TRIGGER kiln_job_count_delete AFTER DELETE ON kiln_job
BEGIN
    INSERT INTO kiln_job_count (queue, state, jobs) VALUES (OLD.queue, OLD.state, -1)
    ON CONFLICT (queue, state) DO UPDATE SET jobs = jobs - 1;
END;

-- Only statements that set state or queue fire it (lease renewals and
-- cancel requests do not), and only rows whose pair changed run it: one
-- UPSERT of the pair left and the pair entered.
CREATE TRIGGER kiln_job_count_update AFTER UPDATE OF state, queue ON kiln_job
WHEN OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue
BEGIN
    INSERT INTO kiln_job_count (queue, state, jobs, finished)
    VALUES (OLD.queue, OLD.state, -1, 0),
        (NEW.queue, NEW.state, 1, OLD.state = 'running' AND NEW.state <> 'running')
    ON CONFLICT (queue, state) DO UPDATE SET
        jobs = jobs + excluded.jobs, finished = finished + excluded.finished;
END;
