-- 004_services: the states hosted services report, one row per service and
-- process.
CREATE TABLE kiln_service (
    name          TEXT    NOT NULL,
    process_id    TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    singleton     INTEGER NOT NULL CHECK (singleton IN (0, 1)),
    restarts      INTEGER NOT NULL,
    last_error    TEXT    NOT NULL DEFAULT '',
    last_error_at INTEGER,
    started_at    INTEGER,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (name, process_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX kiln_service_updated ON kiln_service (updated_at);
