-- 029_merged_triggers: one AFTER UPDATE trigger on kiln_job where there
-- were two: migration 026's counters (kiln_job_count_update) and migration
-- 028's table of keys (kiln_job_partition_key_update).
--
-- SQLite runs each trigger an UPDATE names as a sub-program of its own for
-- every row, and tests the trigger's WHEN inside it: a claim and a finish,
-- which count their own moves and leave no job available, ran two
-- sub-programs per job whose WHEN was false. One trigger whose WHEN is
-- the two conditions joined by OR runs one, each statement of its body
-- guarded by its own condition, so that it does exactly what the two did:
-- the counters and the keys are written for the same rows as before
-- (docs/benchmarks.md, "SQLite per-key claims (issue 13, 2026-12-06 fifth
-- session)"). The two INSERT triggers stay apart: merged, a keyed insert
-- paid more for opening the guarded statement it skips than the one
-- sub-program saved.
--
-- Dropping and creating triggers changes the schema only: a moment on any
-- size of table, in the migration's one transaction, so that no statement
-- runs between the drops and the creates.
DROP TRIGGER kiln_job_count_update;
DROP TRIGGER kiln_job_partition_key_update;

-- As 026's kiln_job_count_update for the rows whose counted the UPDATE
-- left as it was and whose state or queue it changed, and as 028's
-- kiln_job_partition_key_update for the rows it leaves available with a
-- key.
CREATE TRIGGER kiln_job_update AFTER UPDATE OF state, queue, kind, partition_key ON kiln_job
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
END;
