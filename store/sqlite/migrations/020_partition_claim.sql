-- 020_partition_claim: the indexes of claims by partition key (per-key
-- concurrency limits and fair claims; store.ClaimPartitioned).
--
-- Both indexes hold only jobs with a key: jobs enqueued without one (the
-- default) add no entry to either, so claims and finishes of kinds that
-- use no per-key flow control write nothing more than before. Building
-- them reads the available and running jobs with a key once, holding the
-- write lock.

-- Available jobs with a key, by queue, kind and key, in claim order: a
-- partitioned claim lists a kind's keys with one seek each (a loose index
-- scan) and reads each key's first jobs from its own range.
CREATE INDEX kiln_job_claim_partition ON kiln_job (queue, kind, partition_key, priority, scheduled_at, id)
    WHERE state = 'available' AND partition_key <> '';

-- Running jobs with a key, by kind and key: a claim under a per-key limit
-- counts a kind's running jobs per key from as many entries as run.
CREATE INDEX kiln_job_running_partition ON kiln_job (kind, partition_key)
    WHERE state = 'running' AND partition_key <> '';
