-- 023_server_limits: the limits each process's workers declare in code
-- (kilntype.ServerRow.Limits: concurrency limits and default rate limits
-- per kind), published with the process's row so that a process that does
-- not run a kind (a dashboard, the kiln CLI) can show its limits.
--
-- {s} stands for the store's schema (Options.Schema), quoted. A NOT NULL
-- column with a constant default is added to the catalog only: no table
-- rewrite. Rows written by processes of an earlier version read as no
-- limits.
ALTER TABLE {s}.kiln_server ADD COLUMN limits jsonb NOT NULL DEFAULT '[]';
