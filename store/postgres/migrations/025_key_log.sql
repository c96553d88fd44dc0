-- 025_key_log: a log of the jobs with a partition key that become
-- available (issue 13).
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- Every statement of the Store that makes jobs with a key available (an
-- insert, the promoter, a finish that puts a job back, a retry, a bulk
-- retry or move, a unique insert that replaces a waiting job, the
-- resolver of continuations, a recurring entry's occurrence) appends one
-- row here in the same statement, naming those jobs in arrays (element i
-- of each array is one job): its queue, kind, key and place in claim order
-- (priority, scheduled_at, id) when it became available. A statement that
-- makes no such job available appends nothing (jobs without a key, the
-- default, never add a row).
--
-- It is what a process that keeps a window of each key's available jobs
-- (a claim under a per-key concurrency limit reading each key's jobs once,
-- instead of seeking each key's range at every claim: docs/benchmarks.md,
-- "Per-key claims on PostgreSQL: what a structure must cost") reads to
-- learn of the jobs that became available after it read their key: the
-- rows whose txid (the appending transaction's, txid_current()) was not
-- visible to its previous read, as that read's snapshot says
-- (txid_current_snapshot(): at or after its xmax, or among its in-progress
-- transactions). seq numbers the rows in the order they were appended:
-- the statements that change one job take its row lock, so of two rows
-- naming the same job the later seq is its later change.
--
-- The leader deletes the rows that every reader has had time to read
-- (JobStatsFold: those of transactions that ended KeyLogKeep before).
-- Processes of a version before this migration append nothing: their
-- changes are not in the log (docs/upgrading.md).
--
-- A new table: no lock on kiln_job.
CREATE TABLE {s}.kiln_job_key_log (
    seq           bigint      GENERATED ALWAYS AS IDENTITY,
    txid          bigint      NOT NULL DEFAULT txid_current(),
    queue         text[]      NOT NULL,
    kind          text[]      NOT NULL,
    partition_key text[]      NOT NULL,
    priority      integer[]   NOT NULL,
    scheduled_at  timestamptz[] NOT NULL,
    id            bigint[]    NOT NULL
);

-- A row of a large insert (1,000 jobs) is tens of kilobytes of arrays,
-- which PostgreSQL would compress (pglz) before moving it out of line:
-- 17.4k instructions per job inserted, where the rest of the log costs
-- an insert of 1,000 jobs with keys 3.2k per job (docs/benchmarks.md).
-- Out of line uncompressed instead: the rows are read once or twice, then
-- deleted.
ALTER TABLE {s}.kiln_job_key_log
    ALTER COLUMN queue SET STORAGE EXTERNAL,
    ALTER COLUMN kind SET STORAGE EXTERNAL,
    ALTER COLUMN partition_key SET STORAGE EXTERNAL,
    ALTER COLUMN priority SET STORAGE EXTERNAL,
    ALTER COLUMN scheduled_at SET STORAGE EXTERNAL,
    ALTER COLUMN id SET STORAGE EXTERNAL;

-- A reader's range (txid >= its previous read's xmax) and its lookups
-- (txid = ANY of that read's in-progress transactions), and the leader's
-- deletes (txid < an xmin it recorded earlier).
CREATE INDEX kiln_job_key_log_txid ON {s}.kiln_job_key_log (txid);
