-- 014_recurring_skips: occurrences of recurring entries that got no job,
-- and why (the overlap or the misfire policy), for the entry's history.
--
-- {s} stands for the store's schema (Options.Schema), quoted. Creating a
-- table takes no lock on kiln_job; the foreign key takes a brief lock on
-- kiln_recurring (one row per entry), as any new reference to it would.
--
-- One row per skipped occurrence (overlap), or per run of missed
-- occurrences dropped by one scheduler pass (misfire: from occurrence_at
-- through through_at, skipped of them). RecurringEnqueue writes them in
-- its transaction and keeps each entry's newest 100 (store.MaxRecurringSkips),
-- so the table holds at most 100 rows per entry. Rows go with their entry.
CREATE TABLE {s}.kiln_recurring_skip (
    recurring_id  text COLLATE "C" NOT NULL REFERENCES {s}.kiln_recurring (id) ON DELETE CASCADE,
    occurrence_at timestamptz NOT NULL,
    through_at    timestamptz NOT NULL,
    skipped       integer     NOT NULL,
    reason        text        NOT NULL,
    policy        text        NOT NULL,
    recorded_at   timestamptz NOT NULL,
    PRIMARY KEY (recurring_id, occurrence_at)
);
