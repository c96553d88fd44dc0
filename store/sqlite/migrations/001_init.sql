-- 001_init: jobs, their attempts, and leader election.
--
-- Times are INTEGER Unix microseconds, UTC. Text columns that hold JSON
-- (args, tags, metadata) are stored as given by the client.

CREATE TABLE kiln_job (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    kind                TEXT    NOT NULL,
    queue               TEXT    NOT NULL,
    args                TEXT    NOT NULL,
    state               TEXT    NOT NULL CHECK (state IN (
                            'pending', 'scheduled', 'available', 'running',
                            'retryable', 'completed', 'cancelled', 'discarded')),
    priority            INTEGER NOT NULL,
    attempt             INTEGER NOT NULL DEFAULT 0,
    max_attempts        INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    scheduled_at        INTEGER NOT NULL,
    attempted_at        INTEGER,
    finalized_at        INTEGER,
    leased_by           TEXT,
    lease_expires_at    INTEGER,
    cancel_requested_at INTEGER,
    tags                TEXT    NOT NULL DEFAULT '[]',
    metadata            TEXT    NOT NULL DEFAULT '{}',
    unique_key          TEXT,
    last_error          TEXT
) STRICT;

-- At most one job per unique key among the jobs that may still run.
CREATE UNIQUE INDEX kiln_job_unique_key ON kiln_job (unique_key)
    WHERE unique_key IS NOT NULL AND state NOT IN ('completed', 'cancelled', 'discarded');

-- Claim: available jobs of a queue in claim order.
CREATE INDEX kiln_job_claim_available ON kiln_job (queue, priority, scheduled_at, id)
    WHERE state = 'available';

-- Claim: scheduled and retryable jobs of a queue in claim order; the claim
-- seeks each priority's due range, so future jobs are never walked.
CREATE INDEX kiln_job_claim_waiting ON kiln_job (queue, priority, scheduled_at, id)
    WHERE state IN ('scheduled', 'retryable');

-- Scheduler: due scheduled and retryable jobs of every queue.
CREATE INDEX kiln_job_due ON kiln_job (scheduled_at)
    WHERE state IN ('scheduled', 'retryable');

-- Cancel polling: a process's running jobs with a cancel request (usually none).
CREATE INDEX kiln_job_cancel_requested ON kiln_job (leased_by)
    WHERE state = 'running' AND cancel_requested_at IS NOT NULL;

-- Cleaner: finalized jobs by state and age.
CREATE INDEX kiln_job_finalized ON kiln_job (state, finalized_at)
    WHERE finalized_at IS NOT NULL;

-- Listing filters, in ID order for keyset pagination. The rescuer reads the
-- running jobs through kiln_job_state too: they are at most the workers of
-- the processes sharing the database, and an index on lease_expires_at
-- would be rewritten by every claim, finish and lease renewal.
CREATE INDEX kiln_job_state ON kiln_job (state, id);
CREATE INDEX kiln_job_kind  ON kiln_job (kind, id);
CREATE INDEX kiln_job_queue ON kiln_job (queue, id);

CREATE TABLE kiln_job_attempt (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES kiln_job (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    server      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    error       TEXT    NOT NULL DEFAULT '',
    trace       TEXT    NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX kiln_job_attempt_job ON kiln_job_attempt (job_id, id);

CREATE TABLE kiln_leader (
    name       TEXT    PRIMARY KEY,
    leader_id  TEXT    NOT NULL,
    elected_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
