-- 015_state_index: kiln_job_state, which held one entry per job in every
-- state, holds only the states between available and finalized (running,
-- scheduled, retryable, pending): an insert and a finish each write one
-- index entry fewer.
--
-- Building the index reads the jobs in those states once, holding the
-- write lock: on a file with millions of scheduled jobs, expect seconds
-- during which no job is enqueued, claimed or finished.
--
-- What reads jobs by state now: the rescuer, the running counts of
-- cluster-wide limits, the resolver of pending jobs and the lists of
-- running, scheduled, retryable and pending jobs read
-- kiln_job_state_inflight in ID order (their statements repeat its
-- predicate, so that SQLite may use it). Lists of available or finalized
-- jobs walk the table newest first, or read kiln_job_claim_kind or
-- kiln_job_finalized_kind and sort when the counters say that those jobs
-- are few (Store.JobList).
CREATE INDEX kiln_job_state_inflight ON kiln_job (state, id)
    WHERE state IN ('running', 'scheduled', 'retryable', 'pending');

-- Replaced by kiln_job_state_inflight.
DROP INDEX kiln_job_state;
