-- 008_progress: what running jobs report (progress, log lines), and an
-- index of job tags for listing by tag.
--
-- progress is the percentage last reported by attempt progress_attempt;
-- it counts as the job's progress only while that attempt is the job's
-- latest (progress_attempt = attempt), so a new attempt starts with none
-- without the claim writing anything. log_seq is the Seq of the job's last
-- log line: an append bumps it in the same UPDATE that checks the lease.
ALTER TABLE kiln_job ADD COLUMN progress INTEGER CHECK (progress BETWEEN 0 AND 100);
ALTER TABLE kiln_job ADD COLUMN progress_attempt INTEGER;
ALTER TABLE kiln_job ADD COLUMN log_seq INTEGER NOT NULL DEFAULT 0;

-- A job's newest log lines (the client keeps 1,000), deleted with the job.
CREATE TABLE kiln_job_log (
    job_id    INTEGER NOT NULL REFERENCES kiln_job (id) ON DELETE CASCADE,
    seq       INTEGER NOT NULL,
    attempt   INTEGER NOT NULL,
    logged_at INTEGER NOT NULL,
    message   TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
) STRICT, WITHOUT ROWID;

-- One row per (tag, job): JobList with a tag walks the tag's entries in ID
-- order. Tags never change after insert, so two triggers keep it: a job
-- without tags costs nothing, a tagged one one row per tag, inserted with
-- the job and deleted with it through the primary key (no foreign key,
-- which would need a second index on job_id).
CREATE TABLE kiln_job_tag (
    tag    TEXT    NOT NULL,
    job_id INTEGER NOT NULL,
    PRIMARY KEY (tag, job_id)
) STRICT, WITHOUT ROWID;

INSERT OR IGNORE INTO kiln_job_tag (tag, job_id)
    SELECT t.value, j.id FROM kiln_job AS j, json_each(j.tags) AS t WHERE j.tags <> '[]';

CREATE TRIGGER kiln_job_tag_insert AFTER INSERT ON kiln_job WHEN new.tags <> '[]'
BEGIN
    INSERT OR IGNORE INTO kiln_job_tag (tag, job_id)
        SELECT value, new.id FROM json_each(new.tags);
END;

CREATE TRIGGER kiln_job_tag_delete AFTER DELETE ON kiln_job WHEN old.tags <> '[]'
BEGIN
    DELETE FROM kiln_job_tag
        WHERE tag IN (SELECT value FROM json_each(old.tags)) AND job_id = old.id;
END;
