-- 029_server_schema_version: each registered process records the last
-- migration of its build (kiln_server.schema_version), so that a contract
-- migration (store/internal/migrate, "-- kiln:contract N") is applied only
-- when no registered process runs a build whose last migration is before
-- N (store/postgres: migrator.Older).
--
-- {s} stands for the store's schema (Options.Schema), quoted. A NOT NULL
-- column with a constant default is added to the catalog only: no table
-- rewrite (and kiln_server holds a row per running process). Processes of
-- builds before this migration do not write the column: their rows read
-- 0, older than every contract migration, which is what they are. The
-- lock_timeout keeps the registry's writers from queueing behind this
-- statement for longer than 2 s (Store.Migrate retries after it).
SET LOCAL lock_timeout = '2s';
ALTER TABLE {s}.kiln_server ADD COLUMN schema_version integer NOT NULL DEFAULT 0;
