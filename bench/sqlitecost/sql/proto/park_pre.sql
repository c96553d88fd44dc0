-- park: a kind capped per key is claimed in claim order (the plain
-- candidates, kiln_job_claim_kind) and a candidate whose key is at its
-- limit is parked: moved to the state 'parked', out of
-- kiln_job_claim_kind, into kiln_job_parked (queue, kind, key, claim
-- order), which holds parked jobs only. A claim first takes the oldest
-- parked job of each parked key with room (the sweep: proto/park_sweep.sql),
-- then reads the candidates. No index by key holds available jobs:
-- kiln_job_claim_partition is dropped, so a claim or a finish of a job
-- whose key has room writes no entry by key (kiln_job_running_partition,
-- which counts the running jobs per key, stays). Run on an empty database
-- migrated to 031 (PRE), so that the inserts pay for the indexes.
--
-- A counting prototype, not a migration: older builds name
-- kiln_job_claim_partition with INDEXED BY (their claims by key would fail
-- with "no such index") and do not know the state 'parked' (the harness's
-- count.sql counts it as a state of its own). A build would ship this as a
-- contract migration (-- kiln:contract, d3a944b), applied once no older
-- build runs: docs/benchmarks.md, "SQLite per-key claims, litekey3,
-- 2026-12-07 ninth session", "What a build needs".
DROP INDEX kiln_job_claim_partition;
CREATE INDEX kiln_job_parked ON kiln_job (queue, kind, partition_key, priority, scheduled_at)
    WHERE state = 'parked';
-- the state CHECK admits 'parked' (as migration 024 edits it)
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'state = ''pending'' OR', 'state = ''parked'' OR state = ''pending'' OR')
WHERE type = 'table' AND name = 'kiln_job';
PRAGMA writable_schema = RESET;
