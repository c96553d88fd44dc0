-- 038_fair_virtual_time: the fair order's virtual time (migration 035)
-- no longer held back by a job that claims pass over.
--
-- Migration 035 tags a job max(V, last + 1), V the smallest tag of the
-- fair order (its front) or, when it is empty, the largest tag given. A
-- key at its per-key limit, or over its per-key rate budget, keeps its
-- first entries at the front while claims pass over them, so V stayed at
-- their tag while the other keys ran ahead, and a key that arrived (or
-- came back from idle) got tags from that old V and took every claim
-- until it caught up: hundreds of claims where docs/flow-control.md gives
-- ceil(E / M). Start-time fair queueing's virtual time is the tag of the
-- job in service: claim_seq, kept in the row of the key '' of each queue,
-- kind and priority, is the largest tag that a claim in fair order took
-- there (monotone; written by each such claim: sqlFairClaimed), and a tag
-- is never below it: V = max(the front or the largest tag given,
-- claim_seq). The tagging statements (035's and 037's triggers, and
-- JobInsertMany's sqlFairTag, which reads claim_seq itself) record a key's
-- last tag in kiln_job_fair_key and then read it back as the job's tag;
-- the triggers below raise a key's last tag to claim_seq as it is
-- written, so that kiln_job_fair_insert and kiln_job_update (either
-- version: this migration applies whether the contract migration 037 has
-- been or is held) tag from the raised V without being recreated. One
-- seek of the row of the key '' per key's last tag written.
--
-- Adding a column with a constant default rewrites no row.
ALTER TABLE kiln_job_fair_key ADD COLUMN claim_seq INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER kiln_job_fair_floor_insert AFTER INSERT ON kiln_job_fair_key
WHEN NEW.partition_key <> '' AND NEW.last_seq < (SELECT claim_seq FROM kiln_job_fair_key
    WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = '' AND priority = NEW.priority)
BEGIN
    UPDATE kiln_job_fair_key SET last_seq = (SELECT v.claim_seq FROM kiln_job_fair_key AS v
        WHERE v.queue = NEW.queue AND v.kind = NEW.kind AND v.partition_key = '' AND v.priority = NEW.priority)
    WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = NEW.partition_key AND priority = NEW.priority;
END;

CREATE TRIGGER kiln_job_fair_floor_update AFTER UPDATE OF last_seq ON kiln_job_fair_key
WHEN NEW.partition_key <> '' AND NEW.last_seq < (SELECT claim_seq FROM kiln_job_fair_key
    WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = '' AND priority = NEW.priority)
BEGIN
    UPDATE kiln_job_fair_key SET last_seq = (SELECT v.claim_seq FROM kiln_job_fair_key AS v
        WHERE v.queue = NEW.queue AND v.kind = NEW.kind AND v.partition_key = '' AND v.priority = NEW.priority)
    WHERE queue = NEW.queue AND kind = NEW.kind AND partition_key = NEW.partition_key AND priority = NEW.priority;
END;
