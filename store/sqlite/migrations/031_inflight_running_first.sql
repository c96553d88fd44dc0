-- 031_inflight_running_first: kiln_job_state_inflight's predicate tests
-- state = 'running' before its IN list. The same jobs, cheaper to keep.
--
-- SQLite runs an IN list of more than two values in a partial index's
-- WHERE by building a temporary b-tree of its values each time it tests a
-- row: for every row an INSERT writes, and for the row before and the row
-- after every UPDATE of state (migration 024 says the same of the CHECK on
-- state). A claim tested the job it takes (available) and leaves
-- (running), a finish the job it takes (running) and leaves (completed):
-- four b-trees per job. With state = 'running' OR state IN (...), SQLite
-- tests the comparison first and reads no further for a running job: two
-- b-trees per claimed and finished job instead of four (docs/benchmarks.md,
-- "SQLite writer per job, 2026-12-06 eighth session (litefast)").
--
-- The IN list stays, as the OR's second term, so that every statement
-- that reads the index still implies its predicate (SQLite uses a partial
-- index only for a statement whose WHERE has a term equal to the
-- predicate or, for an OR, to one of its terms): older versions'
-- statements name the IN list, this version's name comparisons, which
-- SQLite plans as the same IN list, or state = 'running'. So processes of
-- older versions may keep running against this schema. Dropping the IN
-- list altogether (the migration announced in docs/upgrading.md) would
-- save the other two b-trees and the insert's, and waits for the end of
-- the versions that name it.
--
-- A running job satisfied the IN list: the index holds the same jobs under
-- either predicate, so its entries are already right. The definition is
-- changed in sqlite_schema (writable_schema), SQLite's documented
-- procedure for a change that leaves the file's content valid, as 024 did:
-- nothing is read or rewritten, a moment on any size of kiln_job. If the
-- definition does not hold the text of migration 015 (edited by hand), it
-- is left as it is. RESET makes this connection read the schema again;
-- creating and dropping a view changes the schema's version, so that
-- every other connection reads it again too (one that has not yet keeps
-- the old predicate, which holds the same jobs).
PRAGMA writable_schema = ON;

UPDATE sqlite_schema SET sql = replace(sql,
    'WHERE state IN (''running'', ''scheduled'', ''retryable'', ''pending'')',
    'WHERE state = ''running'' OR state IN (''running'', ''scheduled'', ''retryable'', ''pending'')')
WHERE type = 'index' AND name = 'kiln_job_state_inflight';

PRAGMA writable_schema = RESET;

CREATE VIEW kiln_migration_031 AS SELECT 1;
DROP VIEW kiln_migration_031;
