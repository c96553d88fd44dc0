-- 027_counted_inserts: the store's inserts count their own jobs, as 026
-- made its claims and finishes count their moves: one UPSERT of
-- kiln_job_count per queue and state an insert statement added jobs to,
-- instead of the INSERT trigger's one per job.
--
-- The store inserts its jobs with counted = 1; the trigger skips those
-- rows. An older version's insert, or one by hand that names the columns
-- it sets, leaves counted at its default, 0, and the trigger counts it as
-- before: processes of older versions may keep running against this
-- schema. A row copied with its counted (INSERT ... SELECT * from a
-- backup) is not counted when that value is 1: docs/upgrading.md says to
-- leave the column out, or to run kiln stats rebuild after. (026's UPDATE
-- trigger compares counted's old and new values; its value says nothing
-- else.)
DROP TRIGGER kiln_job_count_insert;

CREATE TRIGGER kiln_job_count_insert AFTER INSERT ON kiln_job
WHEN NEW.counted = 0
BEGIN
    INSERT INTO kiln_job_count (queue, state, jobs) VALUES (NEW.queue, NEW.state, 1)
    ON CONFLICT (queue, state) DO UPDATE SET jobs = jobs + 1;
END;
