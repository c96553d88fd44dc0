-- 025_partition_claim_rowid: kiln_job_claim_partition without its last
-- column, id. kiln_job.id is the table's rowid, which SQLite appends to
-- every index entry anyway: the column stored each job's ID twice. The
-- index's order is unchanged (queue, kind, partition_key, priority,
-- scheduled_at, then the rowid), so every statement that names it reads
-- it as before, with no sort.
--
-- A claim under a per-key limit takes one job from each of the keys it
-- visits and so removes entries from as many places of this index: it was
-- 64 % of the pages such a claim writes (0.393 of 0.614 per claimed job,
-- 50,000 jobs over 1,000 keys: docs/benchmarks.md, "Per-key claims on
-- SQLite (issue 13, 2026-12-05 late)"). Entries 9 % smaller: 0.357.
--
-- Building the index reads the available jobs with a key once, holding the
-- write lock (as migration 020 did): on a file with millions of such jobs,
-- expect seconds during which no job is enqueued, claimed or finished.
-- Both statements run in the migration's one transaction, so no claim sees
-- the schema without the index.
DROP INDEX kiln_job_claim_partition;

CREATE INDEX kiln_job_claim_partition ON kiln_job (queue, kind, partition_key, priority, scheduled_at)
    WHERE state = 'available' AND partition_key <> '';
