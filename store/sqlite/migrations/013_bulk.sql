-- 013_bulk: bulk operations (store.BulkStore): one action on every job a
-- filter matches, run in batches by the process that accepted it. Each
-- operation is a row, so that every process sharing the file sees its
-- progress, and one whose process stopped stays visible, to resume or
-- cancel. A new table: nothing else is read or rewritten.
--
-- filter is the kilntype.JobFilter as JSON; first_id and last_id bound the
-- job IDs it examines, cursor is the last one examined; times are Unix
-- microseconds.
CREATE TABLE kiln_bulk (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    action              TEXT    NOT NULL,
    filter              TEXT    NOT NULL,
    target_queue        TEXT    NOT NULL DEFAULT '',
    state               TEXT    NOT NULL,
    owner               TEXT    NOT NULL,
    first_id            INTEGER NOT NULL,
    last_id             INTEGER NOT NULL,
    cursor              INTEGER NOT NULL,
    matched             INTEGER NOT NULL DEFAULT 0,
    changed             INTEGER NOT NULL DEFAULT 0,
    skipped             INTEGER NOT NULL DEFAULT 0,
    batches             INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    finished_at         INTEGER,
    cancel_requested_at INTEGER,
    error               TEXT    NOT NULL DEFAULT ''
) STRICT;
