-- 023_server_limits: the limits each process's workers declare in code
-- (kilntype.ServerRow.Limits: concurrency limits and default rate limits
-- per kind), as JSON, published with the process's row so that a process
-- that does not run a kind (a dashboard, the kiln CLI) can show its
-- limits.
--
-- Adding a column with a constant default only changes the schema:
-- existing rows are not rewritten; rows written by processes of an
-- earlier version read as no limits.
ALTER TABLE kiln_server ADD COLUMN limits TEXT NOT NULL DEFAULT '[]';
