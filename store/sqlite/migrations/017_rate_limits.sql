-- 017_rate_limits: rate limits ("N jobs started per period") of job kinds,
-- cluster-wide (kilntype.RateLimit; see docs/flow-control.md). New tables:
-- kiln_job is not touched. Times are in microseconds since the epoch.
--
-- kiln_rate_limit holds the limits set at run time (Client.RateLimitSet),
-- which beat the workers' defaults in code until removed. per_key 0 is the
-- budget of the whole kind; 1 is the budget each partition key of the kind
-- gets. period_us is the period in microseconds.
CREATE TABLE kiln_rate_limit (
    kind        TEXT    NOT NULL,
    per_key     INTEGER NOT NULL DEFAULT 0,
    limit_count INTEGER NOT NULL CHECK (limit_count > 0),
    period_us   INTEGER NOT NULL CHECK (period_us > 0),
    burst       INTEGER NOT NULL DEFAULT 0 CHECK (burst >= 0),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, per_key)
) WITHOUT ROWID;

-- kiln_rate_limit_state is the state of each budget in use: its
-- theoretical arrival time (GCRA's TAT), written by the claims that start
-- jobs under it. key is '' for the kind's budget, the partition key for a
-- per-key budget. A row whose tat is past is a full budget, as is no row.
CREATE TABLE kiln_rate_limit_state (
    kind    TEXT    NOT NULL,
    per_key INTEGER NOT NULL DEFAULT 0,
    key     TEXT    NOT NULL DEFAULT '',
    tat     INTEGER NOT NULL,
    PRIMARY KEY (kind, per_key, key)
) WITHOUT ROWID;
