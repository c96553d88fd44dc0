-- 007_job_stats: job counts per queue and state, the attempts that ended
-- in each, and their history per minute, so that reading them never scans
-- the jobs.
--
-- {s} stands for the store's schema (Options.Schema), quoted. Queue names
-- have the "C" collation: they sort bytewise, as in the SQLite store.
--
-- Triggers keep the counters in the transaction of every change to
-- kiln_job (a Store's, another process's or an operator's). Claims and
-- finishes of many transactions run at once, and a counter row that each
-- of them updated would make them wait for each other's commits. So the
-- triggers only append: one AFTER ... FOR EACH STATEMENT trigger per event
-- reads the statement's transition tables (the rows as they were and as
-- they are) and inserts one aggregated delta row per queue and state that
-- changed, into a table without indexes, which no transaction updates or
-- locks. JobStatsFold (the maintenance leader's, every few seconds) moves
-- the deltas into the totals, and adds the attempts they record to the
-- history of the minute of its Now; counts read the totals and the deltas
-- left.

-- No job may change while the counters start: the triggers below are not
-- visible to other transactions before this one commits.
LOCK TABLE {s}.kiln_job IN SHARE MODE;

-- For each queue and state, as of the last fold: jobs, the jobs in it;
-- finished, the attempts that moved a job of the queue from running to
-- this state since this migration (monotonic: completed, retryable,
-- discarded, cancelled, scheduled when snoozed, available when given back
-- at shutdown). Only JobStatsFold writes it.
CREATE TABLE {s}.kiln_job_count (
    queue    text COLLATE "C" NOT NULL,
    state    text   NOT NULL,
    jobs     bigint NOT NULL,
    finished bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, state)
);

-- Changes to kiln_job_count not folded yet: appended by the triggers,
-- deleted by JobStatsFold. Autovacuum reclaims the deleted rows.
CREATE TABLE {s}.kiln_job_count_delta (
    queue    text COLLATE "C" NOT NULL,
    state    text   NOT NULL,
    jobs     bigint NOT NULL,
    finished bigint NOT NULL
);

-- Attempts that completed their job, or failed it (retryable or
-- discarded), per minute (its start, UTC) of the fold that recorded them,
-- of every queue together and of each queue: a graph of all queues reads
-- one row per minute however many queues there are. Only JobStatsFold
-- writes them, and deletes the minutes older than the retention it is
-- given.
CREATE TABLE {s}.kiln_job_history (
    minute    timestamptz PRIMARY KEY,
    completed bigint      NOT NULL,
    failed    bigint      NOT NULL
);

CREATE TABLE {s}.kiln_job_queue_history (
    queue     text COLLATE "C" NOT NULL,
    minute    timestamptz NOT NULL,
    completed bigint      NOT NULL,
    failed    bigint      NOT NULL,
    PRIMARY KEY (queue, minute)
);

-- JobStatsFold deletes old minutes of every queue.
CREATE INDEX kiln_job_queue_history_minute ON {s}.kiln_job_queue_history (minute);

-- The jobs present now.
INSERT INTO {s}.kiln_job_count (queue, state, jobs)
SELECT queue, state, count(*) FROM {s}.kiln_job GROUP BY queue, state;

-- The trigger function of the three triggers below: TG_OP says which
-- transition tables exist (kiln_new for INSERT and UPDATE, kiln_old for
-- UPDATE and DELETE). An UPDATE appends only the pairs whose counters
-- changed, so a lease renewal appends nothing; it joins the two tables by
-- ID to tell the rows that left running (finished attempts).
CREATE FUNCTION {s}.kiln_job_stats() RETURNS trigger LANGUAGE plpgsql AS $kiln$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
        SELECT queue, state, count(*), 0 FROM kiln_new GROUP BY queue, state;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
        SELECT queue, state, -count(*), 0 FROM kiln_old GROUP BY queue, state;
    ELSE
        INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
        SELECT queue, state, sum(jobs), sum(finished) FROM (
            SELECT queue, state, -1 AS jobs, 0 AS finished FROM kiln_old
            UNION ALL
            SELECT n.queue, n.state, 1, (o.state = 'running' AND n.state <> 'running')::integer
            FROM kiln_new AS n JOIN kiln_old AS o ON o.id = n.id
        ) AS d
        GROUP BY queue, state HAVING sum(jobs) <> 0 OR sum(finished) <> 0;
    END IF;
    RETURN NULL;
END
$kiln$;

CREATE TRIGGER kiln_job_stats_insert AFTER INSERT ON {s}.kiln_job
    REFERENCING NEW TABLE AS kiln_new
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.kiln_job_stats();

CREATE TRIGGER kiln_job_stats_update AFTER UPDATE ON {s}.kiln_job
    REFERENCING OLD TABLE AS kiln_old NEW TABLE AS kiln_new
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.kiln_job_stats();

CREATE TRIGGER kiln_job_stats_delete AFTER DELETE ON {s}.kiln_job
    REFERENCING OLD TABLE AS kiln_old
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.kiln_job_stats();

-- TRUNCATE fires no DELETE trigger: it sets the job counts to 0 instead
-- (the finished counters stay).
CREATE FUNCTION {s}.kiln_job_stats_truncate() RETURNS trigger LANGUAGE plpgsql AS $kiln$
BEGIN
    INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
    SELECT queue, state, -sum(jobs), 0 FROM (
        SELECT queue, state, jobs FROM {s}.kiln_job_count
        UNION ALL
        SELECT queue, state, jobs FROM {s}.kiln_job_count_delta
    ) AS c
    GROUP BY queue, state HAVING sum(jobs) <> 0;
    RETURN NULL;
END
$kiln$;

CREATE TRIGGER kiln_job_stats_truncate AFTER TRUNCATE ON {s}.kiln_job
    FOR EACH STATEMENT EXECUTE FUNCTION {s}.kiln_job_stats_truncate();
