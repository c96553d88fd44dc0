-- 014_recurring_skips: occurrences of recurring entries that got no job,
-- and why (the overlap or the misfire policy), for the entry's history.
--
-- One row per skipped occurrence (overlap), or per run of missed
-- occurrences dropped by one scheduler pass (misfire: from occurrence_at
-- through through_at, skipped of them). RecurringEnqueue writes them in
-- its transaction and keeps each entry's newest 100 (store.MaxRecurringSkips),
-- so the table holds at most 100 rows per entry. Rows go with their entry.
-- Times are microseconds since the epoch. Creating the table reads no job.
CREATE TABLE kiln_recurring_skip (
    recurring_id  TEXT    NOT NULL REFERENCES kiln_recurring (id) ON DELETE CASCADE,
    occurrence_at INTEGER NOT NULL,
    through_at    INTEGER NOT NULL,
    skipped       INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    policy        TEXT    NOT NULL,
    recorded_at   INTEGER NOT NULL,
    PRIMARY KEY (recurring_id, occurrence_at)
) STRICT, WITHOUT ROWID;
