-- 003_services: the states hosted services report, one row per service and
-- process. Names sort bytewise ("C" collation), as in the SQLite store.

CREATE TABLE {s}.kiln_service (
    name          text COLLATE "C" NOT NULL,
    process_id    text COLLATE "C" NOT NULL,
    state         text        NOT NULL,
    singleton     boolean     NOT NULL,
    restarts      integer     NOT NULL,
    last_error    text        NOT NULL DEFAULT '',
    last_error_at timestamptz,
    started_at    timestamptz,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (name, process_id)
);

-- The cleaner deletes the reports of processes that are gone.
CREATE INDEX kiln_service_updated ON {s}.kiln_service (updated_at);
