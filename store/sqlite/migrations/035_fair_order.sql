-- 035_fair_order: the available jobs with a partition key kept in fair
-- order at enqueue, so that a kind claimed by key (capped per key, or
-- fair) is claimed by walking one index from its front instead of by key
-- in rotation (store/sqlite: partitionSource.FairOrder; docs/benchmarks.md,
-- "SQLite fair order at enqueue (litefair, 2026-12-07 twelfth session)" and
-- "SQLite fair order landed (fairlite, 2026-12-07 thirteenth session)").
--
-- Start-time fair queueing (P. Goyal, H. M. Vin, H. Cheng, "Start-time
-- fair queueing: a scheduling algorithm for integrated services packet
-- switching networks", SIGCOMM 1996) with the partition key as the flow
-- and a cost of one per job: each job with a key gets, whenever it
-- becomes available (an insert, or an UPDATE that makes it available or
-- changes its queue, kind, key or priority while available), the tag
-- fair_seq = max(V, last + 1). V is the smallest fair_seq of the
-- available jobs with a key of its queue, kind and priority (the front of
-- kiln_job_claim_fair, one seek) or, when there is none, the largest tag
-- given there (the row of the key '' in kiln_job_fair_key, so that V
-- never goes back); last is the tag its key got last at that queue, kind
-- and priority (kiln_job_fair_key). A key thus has one job per tag level
-- however many it queues, and a key that arrives starts at the front.
--
-- This is the expand half: kiln_job_claim_partition and
-- kiln_job_partition_key (migrations 020, 028) stay, written as before,
-- because claims under a per-key rate limit still list keys through them,
-- and so do builds before this one (a rolling deploy). A later contract
-- migration drops them.
ALTER TABLE kiln_job ADD COLUMN fair_seq INTEGER;

-- park_seq holds the tag of a job parked by a claim (sqlFairPark): an
-- entry of a key at its per-key limit that a walk passed over, beyond the
-- key's first `limit` entries, leaves kiln_job_claim_fair for
-- kiln_job_fair_parked (fair_seq NULL, park_seq its tag) until a claim
-- takes a job of its key (sqlFairUnpark gives it its tag back) or a sweep
-- finds its key with room (sqlFairSweep). It bounds the walk behind a key
-- whose jobs run long. No trigger reads or writes it but the tagging
-- below, which clears it: a parked job made available again, or moved, is
-- tagged anew.
ALTER TABLE kiln_job ADD COLUMN park_seq INTEGER;

-- One row per queue, kind, key and priority that has had a job tagged:
-- the key's last tag. The row of the key '' holds the largest tag given.
CREATE TABLE kiln_job_fair_key (
    queue         TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    partition_key TEXT    NOT NULL,
    priority      INTEGER NOT NULL,
    last_seq      INTEGER NOT NULL,
    PRIMARY KEY (queue, kind, partition_key, priority)
) STRICT, WITHOUT ROWID;

-- The fair order. partition_key and scheduled_at make the walk's tests
-- covering: a job of a key at its limit, or not due, is passed over
-- without a read of its row. id comes before the key so that a claim's
-- removals in kiln_job_claim_kind follow those here.
CREATE INDEX kiln_job_claim_fair ON kiln_job (queue, kind, priority, fair_seq, id, partition_key, scheduled_at)
    WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL;

-- The parked jobs, by key; empty unless a claim parked some.
CREATE INDEX kiln_job_fair_parked ON kiln_job (queue, kind, partition_key, priority, park_seq)
    WHERE state = 'available' AND park_seq IS NOT NULL;

-- JobInsertMany tags its jobs itself (fairSeqs: one read of the keys'
-- last tags and one UPSERT of them per queue, kind and priority of the
-- call); this trigger tags the jobs that other statements insert
-- available with a key and without a tag (builds before this one).
CREATE TRIGGER kiln_job_fair_insert AFTER INSERT ON kiln_job
WHEN NEW.state = 'available' AND NEW.partition_key <> '' AND NEW.fair_seq IS NULL
BEGIN
    INSERT INTO kiln_job_fair_key (queue, kind, partition_key, priority, last_seq)
    SELECT NEW.queue, NEW.kind, k.pk, NEW.priority, s.v FROM (SELECT max(
        coalesce((SELECT fair_seq FROM kiln_job INDEXED BY kiln_job_claim_fair
            WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL
                AND queue = NEW.queue AND kind = NEW.kind AND priority = NEW.priority
            ORDER BY fair_seq LIMIT 1),
            (SELECT last_seq FROM kiln_job_fair_key
            WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = '' AND priority = NEW.priority), 1),
        coalesce((SELECT last_seq + 1 FROM kiln_job_fair_key
            WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = NEW.partition_key
                AND priority = NEW.priority), 1)) AS v) AS s,
        (SELECT NEW.partition_key AS pk UNION ALL SELECT '') AS k
    WHERE true
    ON CONFLICT (queue, kind, partition_key, priority) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    UPDATE kiln_job SET fair_seq = (SELECT last_seq FROM kiln_job_fair_key
        WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = NEW.partition_key AND priority = NEW.priority),
        park_seq = NULL
    WHERE id = NEW.id;
END;

-- Migration 029's kiln_job_update, which also tags a job that an UPDATE
-- makes available with a key, or whose queue, kind, key or priority it
-- changes while available (promotion, retry, snooze, rescue, a job moved
-- back, a priority changed): one trigger program per updated row, as
-- before. A claim's and a finish's rows (which count themselves and leave
-- no job available) pass its WHEN and run none of it; parking and giving
-- back (fair_seq, park_seq) are not among its columns and run none of it.
-- Dropping and creating a trigger changes the schema only: a moment, in
-- the migration's one transaction.
DROP TRIGGER kiln_job_update;
CREATE TRIGGER kiln_job_update AFTER UPDATE OF state, queue, kind, partition_key, priority ON kiln_job
WHEN ((OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue) AND OLD.counted IS NEW.counted)
    OR (NEW.state = 'available' AND NEW.partition_key <> '')
BEGIN
    INSERT INTO kiln_job_count (queue, state, jobs, finished)
    SELECT OLD.queue, OLD.state, -1, 0
    WHERE (OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue) AND OLD.counted IS NEW.counted
    UNION ALL
    SELECT NEW.queue, NEW.state, 1, OLD.state = 'running' AND NEW.state <> 'running'
    WHERE (OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue) AND OLD.counted IS NEW.counted
    ON CONFLICT (queue, state) DO UPDATE SET
        jobs = jobs + excluded.jobs, finished = finished + excluded.finished;
    INSERT OR IGNORE INTO kiln_job_partition_key (queue, kind, partition_key)
    SELECT NEW.queue, NEW.kind, NEW.partition_key
    WHERE NEW.state = 'available' AND NEW.partition_key <> '';
    INSERT INTO kiln_job_fair_key (queue, kind, partition_key, priority, last_seq)
    SELECT NEW.queue, NEW.kind, k.pk, NEW.priority, s.v FROM (SELECT max(
        coalesce((SELECT fair_seq FROM kiln_job INDEXED BY kiln_job_claim_fair
            WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL
                AND queue = NEW.queue AND kind = NEW.kind AND priority = NEW.priority AND id <> NEW.id
            ORDER BY fair_seq LIMIT 1),
            (SELECT last_seq FROM kiln_job_fair_key
            WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = '' AND priority = NEW.priority), 1),
        coalesce((SELECT last_seq + 1 FROM kiln_job_fair_key
            WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = NEW.partition_key
                AND priority = NEW.priority), 1)) AS v) AS s,
        (SELECT NEW.partition_key AS pk UNION ALL SELECT '') AS k
    WHERE NEW.state = 'available' AND NEW.partition_key <> ''
        AND (OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue OR OLD.kind IS NOT NEW.kind
            OR OLD.partition_key IS NOT NEW.partition_key OR OLD.priority IS NOT NEW.priority)
    ON CONFLICT (queue, kind, partition_key, priority) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    UPDATE kiln_job SET fair_seq = (SELECT last_seq FROM kiln_job_fair_key
        WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = NEW.partition_key AND priority = NEW.priority),
        park_seq = NULL
    WHERE id = NEW.id AND NEW.state = 'available' AND NEW.partition_key <> ''
        AND (OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue OR OLD.kind IS NOT NEW.kind
            OR OLD.partition_key IS NOT NEW.partition_key OR OLD.priority IS NOT NEW.priority);
END;

-- The jobs available now: each key's get 1, 2, ... at each queue, kind and
-- priority, in schedule order (then ID), and the keys' last tags. One pass
-- over the available jobs with a key, holding the write lock, as
-- migration 028's backfill: on a file with millions of them, expect
-- seconds during which no job is enqueued, claimed or finished. The
-- triggers come first, in the migration's one transaction, so that no job
-- becomes available untagged in between.
WITH ranked AS (
    SELECT id, row_number() OVER (PARTITION BY queue, kind, partition_key, priority ORDER BY scheduled_at, id) AS seq
    FROM kiln_job WHERE state = 'available' AND partition_key <> ''
)
UPDATE kiln_job SET fair_seq = ranked.seq FROM ranked WHERE kiln_job.id = ranked.id;

INSERT INTO kiln_job_fair_key (queue, kind, partition_key, priority, last_seq)
SELECT queue, kind, partition_key, priority, max(fair_seq) FROM kiln_job
WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL
GROUP BY queue, kind, partition_key, priority;

INSERT INTO kiln_job_fair_key (queue, kind, partition_key, priority, last_seq)
SELECT queue, kind, '', priority, max(last_seq) FROM kiln_job_fair_key GROUP BY queue, kind, priority;
