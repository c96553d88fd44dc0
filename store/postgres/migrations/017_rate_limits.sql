-- 017_rate_limits: rate limits ("N jobs started per period") of job kinds,
-- cluster-wide (kilntype.RateLimit; see docs/flow-control.md).
--
-- {s} stands for the store's schema (Options.Schema), quoted. New tables:
-- kiln_job is not touched.
--
-- kiln_rate_limit holds the limits set at run time (Client.RateLimitSet),
-- which beat the workers' defaults in code until removed. per_key false is
-- the budget of the whole kind; true is the budget each partition key of
-- the kind gets. period_us is the period in microseconds.
CREATE TABLE {s}.kiln_rate_limit (
	kind        text        NOT NULL,
	per_key     boolean     NOT NULL DEFAULT false,
	limit_count integer     NOT NULL CHECK (limit_count > 0),
	period_us   bigint      NOT NULL CHECK (period_us > 0),
	burst       integer     NOT NULL DEFAULT 0 CHECK (burst >= 0),
	updated_at  timestamptz NOT NULL,
	PRIMARY KEY (kind, per_key)
);

-- kiln_rate_limit_state is the state of each budget in use: its
-- theoretical arrival time (GCRA's TAT), written by the claims that start
-- jobs under it. key is '' for the kind's budget, the partition key for a
-- per-key budget. A row whose tat is past is a full budget, as is no row.
CREATE TABLE {s}.kiln_rate_limit_state (
	kind    text        NOT NULL,
	per_key boolean     NOT NULL DEFAULT false,
	key     text        NOT NULL DEFAULT '',
	tat     timestamptz NOT NULL,
	PRIMARY KEY (kind, per_key, key)
);
