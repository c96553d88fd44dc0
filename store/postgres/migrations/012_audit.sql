-- 012_audit: the audit log, one row per state-changing action made through
-- the dashboard, the HTTP API or the CLI (kilntype.AuditEntry). A new
-- table: it takes no lock on kiln_job. actor and action compare bytewise
-- ("C" collation), as in the SQLite store. detail is a JSON object kept as
-- text, so that both stores return it as it was recorded.
CREATE TABLE {s}.kiln_audit (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL,
    actor   text COLLATE "C" NOT NULL,
    role    text        NOT NULL,
    action  text COLLATE "C" NOT NULL,
    target  text        NOT NULL,
    detail  text,
    addr    text        NOT NULL,
    refused boolean     NOT NULL
);

-- The cleaner deletes the oldest entries; a time filter reads a range.
CREATE INDEX kiln_audit_at ON {s}.kiln_audit (at);
-- A filter by actor or by action reads its entries newest first.
CREATE INDEX kiln_audit_actor ON {s}.kiln_audit (actor, id);
CREATE INDEX kiln_audit_action ON {s}.kiln_audit (action, id);
