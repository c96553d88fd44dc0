-- 013_bulk: bulk operations (store.BulkStore): one action on every job a
-- filter matches, run in batches by the process that accepted it. Each
-- operation is a row, so that every process sharing the database sees its
-- progress, and one whose process stopped stays visible, to resume or
-- cancel.
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- A new table: it takes no lock on kiln_job and rewrites nothing, so it
-- runs in a transaction on a live database of any size.
--
-- filter is the kilntype.JobFilter as JSON; first_id and last_id bound the
-- job IDs it examines, cursor is the last one examined.
CREATE TABLE IF NOT EXISTS {s}.kiln_bulk (
    id                  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action              text        NOT NULL,
    filter              text        NOT NULL,
    target_queue        text        NOT NULL DEFAULT '',
    state               text        NOT NULL,
    owner               text        NOT NULL,
    first_id            bigint      NOT NULL,
    last_id             bigint      NOT NULL,
    cursor              bigint      NOT NULL,
    matched             bigint      NOT NULL DEFAULT 0,
    changed             bigint      NOT NULL DEFAULT 0,
    skipped             bigint      NOT NULL DEFAULT 0,
    batches             bigint      NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    finished_at         timestamptz,
    cancel_requested_at timestamptz,
    error               text        NOT NULL DEFAULT ''
);
