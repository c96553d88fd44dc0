-- 012_audit: the audit log, one row per state-changing action made through
-- the dashboard, the HTTP API or the CLI (kilntype.AuditEntry). A new
-- table: it does not touch kiln_job. at is in microseconds since the
-- epoch; detail is a JSON object as text.
CREATE TABLE kiln_audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    role    TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    detail  TEXT,
    addr    TEXT    NOT NULL,
    refused INTEGER NOT NULL
);

-- The cleaner deletes the oldest entries; a time filter reads a range.
CREATE INDEX kiln_audit_at ON kiln_audit (at);
-- A filter by actor or by action reads its entries newest first.
CREATE INDEX kiln_audit_actor ON kiln_audit (actor, id);
CREATE INDEX kiln_audit_action ON kiln_audit (action, id);
