-- 028_partition_keys: the keys that claims by key list, as a table of
-- their own instead of a walk of kiln_job_claim_partition.
--
-- A claim under a per-key limit lists the keys of a kind with available
-- jobs from the previous claim's last key on. It walked
-- kiln_job_claim_partition by key, a recursive statement that seeks the
-- next key, then counts its running jobs, once per key: 22.7k of the 153.1k
-- instructions that a claimed and finished job cost in a per-key burn-down
-- (docs/benchmarks.md, "SQLite per-key claims: a table of keys (issue 13,
-- 2026-12-06, session 3)"). kiln_job_partition_key holds each queue, kind
-- and key that has had an available job: the listing reads its range in
-- key order and seeks each key's first available job, one statement
-- without recursion (12.6k; 153.1k -> 144.1k per job in all).
--
-- The table holds at least every (queue, kind, key) with an available job
-- with a key: the triggers below add the row whenever a job with a key
-- becomes available, by any statement (an older version's too, so that a
-- rolling deploy keeps it whole). It may hold keys whose jobs have all
-- left the available state: a claim's listing skips them and deletes them
-- (after checking again in the same transaction). Claims and finishes do
-- not write it: a claim moves a job from available, which never adds a key.
CREATE TABLE kiln_job_partition_key (
    queue         TEXT NOT NULL,
    kind          TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    PRIMARY KEY (queue, kind, partition_key)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER kiln_job_partition_key_insert AFTER INSERT ON kiln_job
WHEN NEW.state = 'available' AND NEW.partition_key <> ''
BEGIN
    INSERT OR IGNORE INTO kiln_job_partition_key (queue, kind, partition_key)
    VALUES (NEW.queue, NEW.kind, NEW.partition_key);
END;

CREATE TRIGGER kiln_job_partition_key_update AFTER UPDATE OF state, queue, kind, partition_key ON kiln_job
WHEN NEW.state = 'available' AND NEW.partition_key <> ''
BEGIN
    INSERT OR IGNORE INTO kiln_job_partition_key (queue, kind, partition_key)
    VALUES (NEW.queue, NEW.kind, NEW.partition_key);
END;

-- The keys of the jobs available now: one read of kiln_job_claim_partition
-- in its order (no sort), holding the write lock, as migration 025's
-- rebuild of that index did: on a file with millions of available jobs
-- with a key, expect seconds during which no job is enqueued, claimed or
-- finished. The table and the triggers come first, in the migration's one
-- transaction, so that no job becomes available unseen in between.
INSERT OR IGNORE INTO kiln_job_partition_key (queue, kind, partition_key)
SELECT DISTINCT queue, kind, partition_key FROM kiln_job INDEXED BY kiln_job_claim_partition
WHERE state = 'available' AND partition_key <> '';
