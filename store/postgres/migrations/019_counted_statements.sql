-- 019_counted_statements: the claim and the finishes write their own
-- counter deltas, and the counters' UPDATE trigger (migration 007) no
-- longer fires for them.
--
-- {s} stands for the store's schema (Options.Schema), quoted.
--
-- The claim (sqlClaim) and the finishes (sqlCompleteJobs, sqlFinishJobs
-- and their output variants) append the aggregated deltas of the jobs they
-- move to kiln_job_count_delta themselves, in a data-modifying CTE of the
-- same statement, from what they already know: the queue and new state of
-- each job they move (RETURNING), and its state before (a claim's jobs
-- come from the sources that read and locked them in that state; a finish
-- moves running jobs only). In a burn-down that costs far less than the
-- PL/pgSQL call whose statement joins the transition tables
-- (docs/benchmarks.md, 2026-12-05).
--
-- Such a statement marks itself with set_config('kiln.counted',
-- statement_timestamp()::text, true) before it writes a row, and the
-- trigger's WHEN skips a statement whose mark is its own start time: the
-- mark names one statement (PostgreSQL sets statement_timestamp() anew for
-- every statement a client sends, so a later statement of the same
-- transaction has another), and it is transaction-local, so it ends with
-- the transaction. Every other UPDATE of kiln_job (the Store's admin,
-- bulk, maintenance and workflow statements, another process's of an
-- older version, an operator's by hand) fires the trigger as before, and
-- so do all INSERTs and DELETEs (the insert's own deltas did not pay:
-- see docs/benchmarks.md). PostgreSQL still collects the transition
-- tables of a statement whose trigger's WHEN is false.
--
-- DROP and CREATE TRIGGER take a SHARE ROW EXCLUSIVE lock on kiln_job for
-- the moment of this migration's transaction and rewrite nothing; the
-- trigger is replaced in one transaction, so no change goes uncounted.
DROP TRIGGER kiln_job_stats_update ON {s}.kiln_job;

CREATE TRIGGER kiln_job_stats_update AFTER UPDATE ON {s}.kiln_job
    REFERENCING OLD TABLE AS kiln_old NEW TABLE AS kiln_new
    FOR EACH STATEMENT
    WHEN (current_setting('kiln.counted', true) IS DISTINCT FROM statement_timestamp()::text)
    EXECUTE FUNCTION {s}.kiln_job_stats();
