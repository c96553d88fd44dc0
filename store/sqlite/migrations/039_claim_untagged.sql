-- 039_claim_untagged: the claim order of the available jobs that are not
-- in the fair order (migration 035), so that a keyed job's one claim-order
-- entry is its entry in kiln_job_claim_fair (docs/benchmarks.md, "SQLite
-- keyed jobs in the fair index alone (litec, 2026-12-07 fourteenth
-- session)").
--
-- kiln_job_claim_kind (migration 010) holds every available job, so an
-- enqueue of a job with a key wrote two claim-order entries (there and in
-- kiln_job_claim_fair) and its claim removed two. kiln_job_claim_untagged
-- holds exactly the available jobs that kiln_job_claim_fair does not:
-- those without a tag, which are the jobs without a key and the keyed jobs
-- that a claim parked (migration 035) or that anything else left untagged.
-- kiln_job_claim_fair holds the available jobs with a key and a tag, so
-- every available job is in exactly one of the two as long as no job
-- without a key has a tag: the store never tags one (035's triggers and
-- JobInsertMany tag keyed jobs only), the UPDATE below clears any tag of a
-- job without a key, and the trigger below clears the tag of a job whose
-- key an UPDATE (by hand: no statement of the store changes a key) sets to
-- ''. This build reads the two (store/sqlite: sqlClaimUntagged,
-- sqlClaimFair) wherever it read kiln_job_claim_kind: the plain claim, the
-- kinds and queues of the available jobs, JobList, counts and QueueList.
--
-- The predicate is not the exact complement of kiln_job_claim_fair's
-- (state = 'available' AND (fair_seq IS NULL OR partition_key = '')): with
-- the OR a claim of 100 jobs without a key fetched 205 pages instead of
-- 139 (docs/benchmarks.md). fair_seq ends the index so that the predicate
-- is tested on the entry (SQLite reads state = 'available' off a partial
-- index, an equality with a constant, but not fair_seq IS NULL): the loose
-- scans of the kinds and queues read no row.
--
-- This is the expand half: kiln_job_claim_kind stays, written as before,
-- because builds before this one read it (INDEXED BY); the contract
-- migration 040 drops it once none of them runs.
--
-- Building the index, and the UPDATE, read the table once each, holding
-- the write lock, in the migration's one transaction.
UPDATE kiln_job SET fair_seq = NULL, park_seq = NULL WHERE partition_key = '' AND (fair_seq IS NOT NULL OR park_seq IS NOT NULL);

CREATE INDEX kiln_job_claim_untagged ON kiln_job (queue, kind, priority, scheduled_at, id, fair_seq)
    WHERE state = 'available' AND fair_seq IS NULL;

-- An UPDATE that sets a job's key to '' clears its tag. It names
-- partition_key alone: no statement of the store sets it, so none runs it.
CREATE TRIGGER kiln_job_untag AFTER UPDATE OF partition_key ON kiln_job
WHEN NEW.partition_key = '' AND (NEW.fair_seq IS NOT NULL OR NEW.park_seq IS NOT NULL)
BEGIN
    UPDATE kiln_job SET fair_seq = NULL, park_seq = NULL WHERE id = NEW.id;
END;
