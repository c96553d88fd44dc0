-- kiln:no-transaction
-- 028_row_checks: what PostgreSQL checks on every row version of kiln_job
-- that an INSERT or UPDATE writes, made cheaper without checking less of
-- what the store relies on.
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- 1. kiln_job_state_check keeps its rule (state is one of the eight
--    states) in another form: the states a job is written in most come
--    first (available at an insert, running at a claim, completed at a
--    finish), so that the IN list stops at the first, second or third
--    comparison, not the third, fourth or sixth; the comparison is made
--    in the "C" collation (bytes), the same equality as the column's
--    collation for these values, without the lookup of the collation's
--    locale that texteq makes for every other collation; and the states
--    are one array constant, not a list of eight, which PostgreSQL reads
--    back from the catalog's text at every statement that writes rows.
-- 2. kiln_job_progress_check (progress BETWEEN 0 AND 100, migration 008)
--    is dropped: every store refuses a progress outside 0 to 100 before
--    writing it (store.JobProgressSetParams.Validate, the same error on
--    both stores), and no other statement writes the column. SQLite keeps
--    its CHECK: the stores differ only for a progress written by hand
--    (PostgreSQL now keeps it, in its smallint), not at the API.
-- 3. kiln_job_cancel_requested, the index of the cancel polling (running
--    jobs with a cancel request), is keyed by id instead of leased_by:
--    the same entries, but leased_by is then named by no index, and
--    PostgreSQL no longer compares it, old row against new, on every
--    UPDATE (to tell whether the update can be HOT): a claim sets it and
--    a finish clears it, and reading it walks the row from its start. The
--    polling reads a process's requests from the cluster's (few) entries
--    and checks leased_by on each row.
--
-- Counted: 5.1k database instructions fewer per job of a burn-down,
-- 249.3k -> 244.2k (each alone: 2.3k, 1.2k and 1.4k; docs/benchmarks.md, "PostgreSQL: the
-- checks and compared columns of kiln_job"). No statement of any
-- version names these constraints, and every version's cancel polling
-- sends a statement that the new index serves.
--
-- It runs outside a transaction (see 010_claim_by_kind.sql), statement by
-- statement, each idempotent; on a table of fewer than
-- ConcurrentIndexMinRows jobs, in one transaction, without CONCURRENTLY.
-- Nothing rewrites the table:
--   - The new CHECK is added NOT VALID (catalog only: a moment's ACCESS
--     EXCLUSIVE lock), then validated by a scan of the table under a
--     SHARE UPDATE EXCLUSIVE lock, which lets inserts, claims, finishes
--     and reads go on (on a large table, in its own transaction); only
--     then is the old one dropped and the new one renamed to the old name,
--     which errors keep naming (one transaction: ACCESS EXCLUSIVE, a
--     moment). Each of these three steps is a DO block that does nothing
--     when its work is done (a validated kiln_job_state_check_028, or
--     kiln_job_state_check in the new form), so that a run again after a
--     failure or an interruption never scans the table a second time.
--   - Each statement that takes ACCESS EXCLUSIVE sets lock_timeout for
--     its own transaction: a statement that waits for the lock makes every
--     later user of kiln_job wait behind it, so it gives up after 2 s
--     when a long transaction holds the table (SQLSTATE 55P03), and
--     Store.Migrate runs the migration again, from its first statement,
--     after a pause (migrateLockRetries).
--   - The index is built CONCURRENTLY under a new name, the old one
--     dropped CONCURRENTLY and the new one renamed, as migration 025 does.
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = '{s}.kiln_job'::regclass AND contype = 'c' AND ((conname = 'kiln_job_state_check_028' AND convalidated) OR (conname = 'kiln_job_state_check' AND pg_get_constraintdef(oid) LIKE '%COLLATE "C"%'))) THEN SET LOCAL lock_timeout = '2s'; ALTER TABLE {s}.kiln_job DROP CONSTRAINT IF EXISTS kiln_job_state_check_028, ADD CONSTRAINT kiln_job_state_check_028 CHECK ((state COLLATE "C") = ANY ('{available,running,completed,scheduled,retryable,pending,cancelled,discarded}'::text[])) NOT VALID; END IF; END $$;
DO $$ BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = '{s}.kiln_job'::regclass AND conname = 'kiln_job_state_check_028') THEN ALTER TABLE {s}.kiln_job VALIDATE CONSTRAINT kiln_job_state_check_028; END IF; END $$;
DO $$ BEGIN IF EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = '{s}.kiln_job'::regclass AND conname = 'kiln_job_state_check_028') THEN SET LOCAL lock_timeout = '2s'; ALTER TABLE {s}.kiln_job DROP CONSTRAINT IF EXISTS kiln_job_state_check; ALTER TABLE {s}.kiln_job RENAME CONSTRAINT kiln_job_state_check_028 TO kiln_job_state_check; END IF; END $$;
SET LOCAL lock_timeout = '2s'; ALTER TABLE {s}.kiln_job DROP CONSTRAINT IF EXISTS kiln_job_progress_check;

CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_cancel_requested_028 ON {s}.kiln_job (id)
    WHERE cancel_requested_at IS NOT NULL AND state = 'running';
DROP INDEX CONCURRENTLY IF EXISTS {s}.kiln_job_cancel_requested;
ALTER INDEX IF EXISTS {s}.kiln_job_cancel_requested_028 RENAME TO kiln_job_cancel_requested;
