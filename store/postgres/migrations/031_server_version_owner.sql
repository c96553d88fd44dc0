-- 031_server_version_owner: kiln_server.schema_version_started_at is the
-- started_at of the process that wrote the row's schema_version. Builds
-- from this one on write both with every registry write; builds before
-- 029 write neither, and builds 029 and 030 schema_version only. So when
-- a process of such a build reuses a Config.ID whose row a process of a
-- later build left behind (a crash), its writes change started_at but
-- leave the other's schema_version: the gate of contract migrations
-- (store/postgres: migrator.Older) reads schema_version only when
-- schema_version_started_at equals started_at, and 0 (older than any
-- contract migration) otherwise, rather than the other's newer version.
--
-- {s} stands for the store's schema (Options.Schema), quoted. A nullable
-- column without a default is added to the catalog only: no table
-- rewrite. Rows written before it read NULL, so 0 until their next
-- write by a build from this one on. The lock_timeout keeps the
-- registry's writers from queueing behind this statement for longer than
-- 2 s (Store.Migrate retries after it).
SET LOCAL lock_timeout = '2s';
ALTER TABLE {s}.kiln_server ADD COLUMN schema_version_started_at timestamptz;
