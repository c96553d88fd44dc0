-- kiln:no-transaction
-- 032_running_index: one index entry per running job, read both by the
-- plain engine and by the counts of a partition key's running jobs, where
-- a running job with a partition key had two (the expand half; migration
-- 033 drops the indexes it replaces).
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- kiln_job_running holds every running job, with a key or without, by
-- kind (in the "C" collation: bytes, as partition_key's), key and ID. The
-- per-key counts of this build (the in-order claim, the walk of keys,
-- JobRunningCount) seek a kind's key in it; the rescuer, the counts per
-- kind, the lists of running jobs and the cancel of running jobs read all
-- of its entries (at most the workers of the processes sharing the
-- database) and sort them where they need an order.
-- kiln_job_partition_available is kiln_job_partition (migrations 024,
-- 025) without its running entries: the available jobs with a key, by
-- kind, key, then claim order within a queue. kiln_job_state_waiting is
-- kiln_job_state_inflight (migration 015) without its running entries:
-- scheduled, retryable and pending jobs by state and ID.
--
-- kiln_job_running's last column, state, is the same in every entry and
-- no search names it: it is there because a claim changes it. PostgreSQL
-- marks the entry an UPDATE adds to an index none of whose key columns
-- the UPDATE changed as a new version of the same row, and before it
-- splits a full leaf page of such an index it passes over every entry of
-- the page looking for duplicates to delete (bottom-up deletion); entries
-- of kiln_job_running have a unique id, so the pass found none, at 6.2k
-- instructions per claimed job. Deduplication is off for the same reason
-- (every entry is unique). Counted: docs/benchmarks.md, "One running
-- entry per job (pgrun, 2026-12-07 tenth session)".
--
-- This build's statements need only these three. Until migration 033
-- drops kiln_job_partition and kiln_job_state_inflight (a contract
-- migration: held while a process of a build before this one runs), every
-- claim writes the old running entries as well as the new one, and an
-- insert of a job with a key or a scheduled job both its entries: the
-- cost of running beside the older build (docs/upgrading.md, "Migration
-- 032 and 033").
--
-- It runs outside a transaction (see 010_claim_by_kind.sql), statement by
-- statement, each idempotent: on a table of ConcurrentIndexMinRows jobs or
-- more each index is built CONCURRENTLY (a SHARE UPDATE EXCLUSIVE lock:
-- inserts, claims, finishes and reads go on; the build reads the table
-- twice, not rewriting it); below, in one transaction. An interrupted build
-- leaves an INVALID index, which the next Migrate drops and builds again.
CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_running
    ON {s}.kiln_job (kind COLLATE "C", partition_key, id, state) WITH (deduplicate_items = off)
    WHERE state = 'running';

CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_partition_available
    ON {s}.kiln_job (kind, partition_key, queue, priority, scheduled_at, id)
    WHERE partition_key <> '' AND state = 'available';

CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_state_waiting ON {s}.kiln_job (state, id)
    WHERE state IN ('scheduled', 'retryable', 'pending');
