-- 006_servers: the registry of Kiln processes sharing the database, one row
-- per started client, refreshed on every heartbeat. queues and kinds are
-- JSON arrays (kilntype.ServerQueue objects and kind names).
CREATE TABLE kiln_server (
    id           TEXT    NOT NULL PRIMARY KEY,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT    NOT NULL,
    kinds        TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX kiln_server_heartbeat ON kiln_server (heartbeat_at);
