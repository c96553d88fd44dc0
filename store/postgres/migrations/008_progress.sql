-- 008_progress: what running jobs report (progress, log lines), and an
-- index of job tags for listing by tag.
--
-- {s} stands for the store's schema (Options.Schema), quoted. progress is
-- the percentage last reported by attempt progress_attempt; it counts as
-- the job's progress only while that attempt is the job's latest
-- (progress_attempt = attempt), so a new attempt starts with none without
-- the claim writing anything. log_seq is the Seq of the job's last log
-- line: an append bumps it in the same UPDATE that checks the lease. None
-- of the three is indexed, so their updates are HOT.
ALTER TABLE {s}.kiln_job
    ADD COLUMN progress         smallint CHECK (progress BETWEEN 0 AND 100),
    ADD COLUMN progress_attempt integer,
    ADD COLUMN log_seq          bigint NOT NULL DEFAULT 0;

-- A job's newest log lines (the client keeps 1,000), deleted with the job.
CREATE TABLE {s}.kiln_job_log (
    job_id    bigint      NOT NULL REFERENCES {s}.kiln_job (id) ON DELETE CASCADE,
    seq       bigint      NOT NULL,
    attempt   integer     NOT NULL,
    logged_at timestamptz NOT NULL,
    message   text        NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- One row per (tag, job): JobList with a tag walks the tag's entries in ID
-- order. Tags never change after insert, so two triggers keep it, fired
-- only for jobs that have tags: an untagged job costs nothing, a tagged
-- one one row per tag, inserted with the job and deleted with it through
-- the primary key. (A GIN index on kiln_job.tags would take new entries on
-- every state change of a tagged job, and tripled the cost of inserting
-- tagged jobs.)
CREATE TABLE {s}.kiln_job_tag (
    tag    text   NOT NULL,
    job_id bigint NOT NULL,
    PRIMARY KEY (tag, job_id)
);

INSERT INTO {s}.kiln_job_tag (tag, job_id)
    SELECT DISTINCT t.tag, j.id FROM {s}.kiln_job AS j, unnest(j.tags) AS t(tag) WHERE j.tags <> '{}';

CREATE FUNCTION {s}.kiln_job_tag_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {s}.kiln_job_tag (tag, job_id) SELECT DISTINCT unnest(NEW.tags), NEW.id;
    RETURN NULL;
END $$;

CREATE FUNCTION {s}.kiln_job_tag_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {s}.kiln_job_tag WHERE tag = ANY(OLD.tags) AND job_id = OLD.id;
    RETURN NULL;
END $$;

CREATE TRIGGER kiln_job_tag_insert AFTER INSERT ON {s}.kiln_job
    FOR EACH ROW WHEN (NEW.tags <> '{}') EXECUTE FUNCTION {s}.kiln_job_tag_insert();

CREATE TRIGGER kiln_job_tag_delete AFTER DELETE ON {s}.kiln_job
    FOR EACH ROW WHEN (OLD.tags <> '{}') EXECUTE FUNCTION {s}.kiln_job_tag_delete();
