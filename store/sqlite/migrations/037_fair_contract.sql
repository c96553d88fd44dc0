-- 037_fair_contract: drops kiln_job_claim_partition and
-- kiln_job_partition_key, and the trigger parts that maintain them, which
-- migration 035's fair order replaced (the contract half): an enqueue of a
-- job with a key writes one claim entry by key (kiln_job_claim_fair), not
-- two, and a claim removes its entries at the front of that index, not in
-- each key's range of kiln_job_claim_partition.
-- kiln:contract 36
--
-- A contract migration (store/internal/migrate): Migrate applies it only
-- when no registered process runs a build whose last migration is before
-- 036. Builds before 035 claim every kind claimed by key (per-key caps,
-- fair kinds, per-key rate limits) by key in rotation, listing the keys
-- from kiln_job_partition_key and each key's jobs from
-- kiln_job_claim_partition; builds at 035 still claim the kinds with a
-- per-key rate limit so; from 036 on every such claim walks
-- kiln_job_claim_fair (partitionSource.FairOrder, FairOrderBudget), and
-- nothing reads either. docs/upgrading.md, "Migrations 036 and 037", says
-- what an older process does if it meets the schema without them, and how
-- to build them back before rolling back.
--
-- In the migration's one transaction, holding the write lock: dropping
-- the index and the table walks their pages to free them (in proportion
-- to the available jobs with a key, and to the keys), dropping and
-- creating triggers changes the schema only.
DROP INDEX kiln_job_claim_partition;
DROP TRIGGER kiln_job_partition_key_insert;
DROP TABLE kiln_job_partition_key;

-- Migration 035's kiln_job_update without migration 028's insert into
-- kiln_job_partition_key: the counters (026) and the fair order's tagging
-- (035), as before.
DROP TRIGGER kiln_job_update;
CREATE TRIGGER kiln_job_update AFTER UPDATE OF state, queue, kind, partition_key, priority ON kiln_job
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
    INSERT INTO kiln_job_fair_key (queue, kind, partition_key, priority, last_seq)
    SELECT NEW.queue, NEW.kind, k.pk, NEW.priority, s.v FROM (SELECT max(
        coalesce((SELECT fair_seq FROM kiln_job INDEXED BY kiln_job_claim_fair
            WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL
                AND queue = NEW.queue AND kind = NEW.kind AND priority = NEW.priority AND id <> NEW.id
            ORDER BY fair_seq LIMIT 1),
            (SELECT last_seq FROM kiln_job_fair_key
            WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = '' AND priority = NEW.priority), 1),
        coalesce((SELECT last_seq + 1 FROM kiln_job_fair_key
            WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = NEW.partition_key
                AND priority = NEW.priority), 1)) AS v) AS s,
        (SELECT NEW.partition_key AS pk UNION ALL SELECT '') AS k
    WHERE NEW.state = 'available' AND NEW.partition_key <> ''
        AND (OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue OR OLD.kind IS NOT NEW.kind
            OR OLD.partition_key IS NOT NEW.partition_key OR OLD.priority IS NOT NEW.priority)
    ON CONFLICT (queue, kind, partition_key, priority) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq);
    UPDATE kiln_job SET fair_seq = (SELECT last_seq FROM kiln_job_fair_key
        WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = NEW.partition_key AND priority = NEW.priority),
        park_seq = NULL
    WHERE id = NEW.id AND NEW.state = 'available' AND NEW.partition_key <> ''
        AND (OLD.state IS NOT NEW.state OR OLD.queue IS NOT NEW.queue OR OLD.kind IS NOT NEW.kind
            OR OLD.partition_key IS NOT NEW.partition_key OR OLD.priority IS NOT NEW.priority);
END;
