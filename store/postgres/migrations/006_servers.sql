-- 006_servers: the registry of Kiln processes sharing the database, one row
-- per started client, refreshed on every heartbeat. queues holds
-- kilntype.ServerQueue objects. IDs sort bytewise ("C" collation), as in
-- the SQLite store.
CREATE TABLE {s}.kiln_server (
    id           text COLLATE "C" PRIMARY KEY,
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    queues       jsonb       NOT NULL,
    kinds        text[]      NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

-- The maintenance leader deletes the rows of processes that died.
CREATE INDEX kiln_server_heartbeat ON {s}.kiln_server (heartbeat_at);
