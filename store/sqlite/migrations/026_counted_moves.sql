-- 026_counted_moves: the claim and the finish write their own counter
-- deltas, one UPSERT per queue and state a transaction moved jobs between,
-- instead of the row trigger's two UPSERTs per job.
--
-- The UPDATE trigger of migration 007 ran for every job a claim moved
-- from available to running and every job a finish moved from running:
-- two UPSERTs of kiln_job_count per job, about 24,500 of ~143,000
-- instructions per claimed and finished job in a burn-down
-- (docs/benchmarks.md, "SQLite writer per job"). SQLite has no
-- statement-level triggers and no setting of a transaction that a
-- trigger's WHEN could read, so the statements that count their own moves
-- say so in the row: each flips the new column counted (0 to 1 or 1 to 0)
-- of the rows it moves, and the trigger skips a row whose counted changed.
-- Every other UPDATE (the other statements of this version, an older
-- version's claims and finishes, an UPDATE by hand) leaves counted as it
-- is, and the trigger counts it as before: processes of older versions
-- may keep running against this schema, and the counters stay exact.
--
-- ADD COLUMN with a constant default changes the table's definition only:
-- rows written before it read the default, nothing is rewritten, a moment
-- on any size of table. The values 0 and 1 take no byte in a row (SQLite
-- stores them in the row's header).
ALTER TABLE kiln_job ADD COLUMN counted INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER kiln_job_count_update;

-- As in migration 007, for the rows whose counted the UPDATE left as it was.
CREATE TRIGGER kiln_job_count_update AFTER UPDATE OF state, queue ON kiln_job
WHEN (OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue) AND OLD.counted IS NEW.counted
BEGIN
    INSERT INTO kiln_job_count (queue, state, jobs, finished)
    VALUES (OLD.queue, OLD.state, -1, 0),
        (NEW.queue, NEW.state, 1, OLD.state = 'running' AND NEW.state <> 'running')
    ON CONFLICT (queue, state) DO UPDATE SET
        jobs = jobs + excluded.jobs, finished = finished + excluded.finished;
END;
