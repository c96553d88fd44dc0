-- 001_init: jobs, their attempts, and leader election.
--
-- {s} stands for the store's schema (Options.Schema), quoted. Times are
-- timestamptz (microseconds); IDs are identity columns, never reused.

CREATE TABLE {s}.kiln_job (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text        NOT NULL,
    queue               text        NOT NULL,
    args                jsonb       NOT NULL,
    state               text        NOT NULL CHECK (state IN (
                            'pending', 'scheduled', 'available', 'running',
                            'retryable', 'completed', 'cancelled', 'discarded')),
    priority            integer     NOT NULL,
    attempt             integer     NOT NULL DEFAULT 0,
    max_attempts        integer     NOT NULL,
    created_at          timestamptz NOT NULL,
    scheduled_at        timestamptz NOT NULL,
    attempted_at        timestamptz,
    finalized_at        timestamptz,
    leased_by           text,
    lease_expires_at    timestamptz,
    cancel_requested_at timestamptz,
    tags                text[]      NOT NULL DEFAULT '{}',
    metadata            jsonb       NOT NULL DEFAULT '{}',
    unique_key          text,
    last_error          text
);

-- At most one job per unique key among the jobs that may still run; an
-- insert that conflicts does nothing (ON CONFLICT DO NOTHING).
CREATE UNIQUE INDEX kiln_job_unique_key ON {s}.kiln_job (unique_key)
    WHERE unique_key IS NOT NULL AND state NOT IN ('completed', 'cancelled', 'discarded');

-- Claim: available jobs of a queue in claim order.
CREATE INDEX kiln_job_claim_available ON {s}.kiln_job (queue, priority, scheduled_at, id)
    WHERE state = 'available';

-- Claim: scheduled and retryable jobs of a queue in claim order; the claim
-- seeks each priority's due range, so future jobs are never walked.
CREATE INDEX kiln_job_claim_waiting ON {s}.kiln_job (queue, priority, scheduled_at, id)
    WHERE state IN ('scheduled', 'retryable');

-- Scheduler: due scheduled and retryable jobs of every queue.
CREATE INDEX kiln_job_due ON {s}.kiln_job (scheduled_at)
    WHERE state IN ('scheduled', 'retryable');

-- Cancel polling: a process's running jobs with a cancel request (usually none).
CREATE INDEX kiln_job_cancel_requested ON {s}.kiln_job (leased_by)
    WHERE state = 'running' AND cancel_requested_at IS NOT NULL;

-- Cleaner: finalized jobs by state and age.
CREATE INDEX kiln_job_finalized ON {s}.kiln_job (state, finalized_at)
    WHERE finalized_at IS NOT NULL;

-- Listing filters, in ID order for keyset pagination. The rescuer reads the
-- running jobs through kiln_job_state too: they are at most the workers of
-- the processes sharing the database. lease_expires_at is in no index, so
-- that a lease renewal, which changes only it, is a HOT update.
CREATE INDEX kiln_job_state ON {s}.kiln_job (state, id);
CREATE INDEX kiln_job_kind  ON {s}.kiln_job (kind, id);
CREATE INDEX kiln_job_queue ON {s}.kiln_job (queue, id);

CREATE TABLE {s}.kiln_job_attempt (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      bigint      NOT NULL REFERENCES {s}.kiln_job (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    server      text        NOT NULL,
    outcome     text        NOT NULL,
    error       text        NOT NULL DEFAULT '',
    trace       text        NOT NULL DEFAULT ''
);

CREATE INDEX kiln_job_attempt_job ON {s}.kiln_job_attempt (job_id, id);

CREATE TABLE {s}.kiln_leader (
    name       text        PRIMARY KEY,
    leader_id  text        NOT NULL,
    elected_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
