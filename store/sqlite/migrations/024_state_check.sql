-- 024_state_check: kiln_job's CHECK on state compares it with each state
-- in turn (state = 'pending' OR state = 'scheduled' OR ...) instead of
-- state IN (...): the same rule, cheaper to run.
--
-- SQLite runs an IN list of more than two values by building a temporary
-- b-tree of the values and seeking it; in a CHECK constraint (as in a
-- partial index's WHERE) it builds that b-tree again for every row that
-- an INSERT writes or an UPDATE of state changes: a claim, a finish, a
-- promotion, an enqueue. Eight comparisons cost a small part of that
-- (instructions per job of a burn-down, claim and finish: see
-- docs/benchmarks.md, "SQLite writer per job").
--
-- The constraint is changed in the table's definition in sqlite_schema
-- (writable_schema), SQLite's documented procedure for a change that
-- leaves the file's content as it is: every row that met the old rule
-- meets the new one, so nothing is read or rewritten, whatever the size
-- of kiln_job, and no statement's text depends on the constraint's. If
-- the definition does not hold the text of migration 001 (edited by
-- hand), it is left as it is. RESET makes this connection read the
-- schema again; creating and dropping a view changes the schema's
-- version, so that every other connection reads it again too (a
-- connection that has not yet keeps the old rule, which is the same).
PRAGMA writable_schema = ON;

UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (state IN (
                            ''pending'', ''scheduled'', ''available'', ''running'',
                            ''retryable'', ''completed'', ''cancelled'', ''discarded''))', 'CHECK (
                            state = ''pending'' OR state = ''scheduled'' OR state = ''available''
                            OR state = ''running'' OR state = ''retryable'' OR state = ''completed''
                            OR state = ''cancelled'' OR state = ''discarded'')')
WHERE type = 'table' AND name = 'kiln_job';

PRAGMA writable_schema = RESET;

CREATE VIEW kiln_migration_024 AS SELECT 1;
DROP VIEW kiln_migration_024;
