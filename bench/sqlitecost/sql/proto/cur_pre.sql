-- cur: the table of keys (028) keeps each key's cursor, a lower bound of
-- the position (priority, scheduled_at, id) of its available jobs, and
-- kiln_job_claim_partition is rebuilt under its name without the state
-- (a claim leaves it alone). Run on an empty database migrated to 029
-- (PRE), so that the inserts pay for the triggers and the index.
DROP INDEX kiln_job_claim_partition;
CREATE INDEX kiln_job_claim_partition ON kiln_job (queue, kind, partition_key, priority, scheduled_at)
    WHERE partition_key <> '';
ALTER TABLE kiln_job_partition_key ADD COLUMN c_priority INTEGER;
ALTER TABLE kiln_job_partition_key ADD COLUMN c_scheduled_at INTEGER;
ALTER TABLE kiln_job_partition_key ADD COLUMN c_id INTEGER;
DROP TRIGGER kiln_job_partition_key_insert;
CREATE TRIGGER kiln_job_partition_key_insert AFTER INSERT ON kiln_job
WHEN NEW.state = 'available' AND NEW.partition_key <> ''
BEGIN
    INSERT INTO kiln_job_partition_key (queue, kind, partition_key, c_priority, c_scheduled_at, c_id)
    VALUES (NEW.queue, NEW.kind, NEW.partition_key, NEW.priority, NEW.scheduled_at, NEW.id)
    ON CONFLICT DO UPDATE SET c_priority = excluded.c_priority, c_scheduled_at = excluded.c_scheduled_at,
        c_id = excluded.c_id
    WHERE (excluded.c_priority, excluded.c_scheduled_at, excluded.c_id) < (c_priority, c_scheduled_at, c_id);
END;
DROP TRIGGER kiln_job_update;
CREATE TRIGGER kiln_job_update AFTER UPDATE OF state, queue, kind, partition_key, priority, scheduled_at ON kiln_job
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
    INSERT INTO kiln_job_partition_key (queue, kind, partition_key, c_priority, c_scheduled_at, c_id)
    SELECT NEW.queue, NEW.kind, NEW.partition_key, NEW.priority, NEW.scheduled_at, NEW.id
    WHERE NEW.state = 'available' AND NEW.partition_key <> ''
    ON CONFLICT DO UPDATE SET c_priority = excluded.c_priority, c_scheduled_at = excluded.c_scheduled_at,
        c_id = excluded.c_id
    WHERE (excluded.c_priority, excluded.c_scheduled_at, excluded.c_id) < (c_priority, c_scheduled_at, c_id);
END;
