-- 010_claim_by_kind: claims read only the jobs of the kinds they can run,
-- and kiln_job has two indexes fewer to write on every state change.
--
-- Building the index reads every available job once, holding the write
-- lock: on a file with millions of queued jobs, expect seconds during
-- which no job is enqueued, claimed or finished.

-- Claim: available jobs of a queue and kind in claim order. A claim reads
-- one range per kind it can run and merges them in claim order, so that it
-- reads about as many entries as it takes jobs, however many jobs of other
-- kinds wait ahead of them in the queue.
CREATE INDEX kiln_job_claim_kind ON kiln_job (queue, kind, priority, scheduled_at, id)
    WHERE state = 'available';

-- Replaced by kiln_job_claim_kind.
DROP INDEX kiln_job_claim_available;

-- JobList's kind and queue filters walk kiln_job_state or the primary key
-- instead, filtering (the dashboard's counts come from the counters of
-- migration 007, not from lists): one index entry fewer per job and state
-- change each.
DROP INDEX kiln_job_kind;
DROP INDEX kiln_job_queue;
