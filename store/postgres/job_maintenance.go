package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlScheduleDue makes available up to $2 scheduled or retryable jobs due
// at $1, earliest first, read from kiln_job_due. It skips the jobs that a
// claim is taking (SKIP LOCKED): the claim takes due jobs of these states
// itself. due locks each job in the state it reads (a job changed since
// the statement's snapshot is read again once locked, and left out if no
// longer due), so counted knows the pair each moved job left. It returns
// how many jobs it moved.
var sqlScheduleDue = `WITH due AS MATERIALIZED (
	SELECT id, queue, state FROM {s}.kiln_job
	WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= $1
	ORDER BY scheduled_at
	LIMIT $2
	FOR UPDATE SKIP LOCKED
),
moved AS (
	UPDATE {s}.kiln_job SET state = 'available' WHERE id = ANY(ARRAY(SELECT id FROM due)) RETURNING id
),
counted AS (
	` + countMoves("moved AS m JOIN due AS o ON o.id = m.id", "o.queue", "'available'", "o.queue", "o.state") + `
)
SELECT count(*) FROM moved`

// JobScheduleDue makes available up to params.Max scheduled or retryable
// jobs whose ScheduledAt <= params.Now, earliest first, and returns how many
// it moved. A Max below 1 moves none.
func (s *Store) JobScheduleDue(ctx context.Context, params *store.JobScheduleDueParams) (int, error) {
	if params.Max < 1 {
		return 0, nil
	}
	var n int
	if err := s.pool.QueryRow(ctx, s.sql(sqlScheduleDue), truncate(params.Now), params.Max).Scan(&n); err != nil {
		return 0, fail("schedule due jobs", err)
	}
	return n, nil
}

// sqlRescueMessage is the error of a rescued job's interrupted attempt,
// also its LastError: it names the process that held the lease.
const sqlRescueMessage = `'lease expired: process "' || coalesce(leased_by, '') ||
	'" stopped renewing it (it crashed, hung or lost the database)'`

// sqlRescue takes back, at $1, up to $2 running jobs whose lease expired
// before $3 (when $3 is NULL, before now(), the database's clock), earliest
// expiry first, in one statement. expired reads them
// through kiln_job_state_inflight (running jobs are few: at most the workers of the
// processes sharing the database) and locks them; rescued moves each to cancelled if a cancel was
// requested, to discarded if it used all its attempts, else to retryable at
// $1; counted writes their counter deltas (each leaves running, and its
// attempt ends); attempts records the interrupted attempt. $1 is cast wherever it
// appears: in pgx's simple_protocol mode (behind PgBouncer, say) it arrives
// as a text literal, which a CASE would otherwise leave as text. It returns the rescued jobs
// as they are after the move, earliest expiry first.
var sqlRescue = `WITH expired AS MATERIALIZED (
	SELECT id, attempt, attempted_at, leased_by, lease_expires_at
	FROM {s}.kiln_job
	WHERE state = 'running' AND lease_expires_at < coalesce($3::timestamptz, now())
	ORDER BY lease_expires_at, id
	LIMIT $2
	FOR UPDATE SKIP LOCKED
),
rescued AS (
	UPDATE {s}.kiln_job AS j SET
		state = CASE
			WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
			WHEN j.attempt >= j.max_attempts THEN 'discarded'
			ELSE 'retryable' END,
		scheduled_at = CASE
			WHEN j.cancel_requested_at IS NULL AND j.attempt < j.max_attempts THEN $1::timestamptz
			ELSE j.scheduled_at END,
		finalized_at = CASE
			WHEN j.cancel_requested_at IS NOT NULL OR j.attempt >= j.max_attempts THEN $1::timestamptz
			ELSE NULL END,
		last_error = ` + sqlRescueMessage + `,
		leased_by = NULL, lease_expires_at = NULL, cancel_requested_at = NULL
	WHERE j.id = ANY(ARRAY(SELECT id FROM expired))
	RETURNING ` + qualified("j", jobColumns) + `
),
counted AS (
	` + countMoves("rescued AS r", "r.queue", "r.state", "r.queue", "'running'") + `
),
attempts AS (
	INSERT INTO {s}.kiln_job_attempt (job_id, attempt, started_at, finished_at, server, outcome, error, trace)
	SELECT id, attempt, coalesce(attempted_at, $1::timestamptz), $1::timestamptz, coalesce(leased_by, ''), 'interrupted',
		` + sqlRescueMessage + `, ''
	FROM expired
)
SELECT ` + qualified("r", jobColumns) + `
FROM rescued AS r JOIN expired AS e ON e.id = r.id
ORDER BY e.lease_expires_at, e.id`

// JobRescueExpired takes back up to params.Max running jobs whose lease
// expired before the database's now() (before params.Now with
// Options.CallerClock), earliest expiry first. A
// job with a cancel request becomes cancelled, a job that used all its
// attempts becomes discarded (both finalized at Now), any other becomes
// retryable at Now. The lease and cancel request are cleared. Each job gets
// an interrupted attempt (the lost attempt still counts against
// MaxAttempts) whose error, also kept as LastError, says that the lease
// expired and names the process that held it. Jobs locked by another
// transaction (a finish in progress, or another process's rescue) are left
// for the next call; a job that another rescue took meanwhile is no longer
// running once locked, and is left out. So rescues of many processes may
// run at once, and each job is rescued, and its attempt recorded, once. It returns
// the rescued jobs as they are after the move, earliest expiry first. A Max
// below 1 rescues none.
func (s *Store) JobRescueExpired(ctx context.Context, params *store.JobRescueExpiredParams) ([]*kilntype.JobRow, error) {
	if params.Max < 1 {
		return []*kilntype.JobRow{}, nil
	}
	jobs := []*kilntype.JobRow{}
	err := batchQuery(ctx, s.pool, []batchStatement{{sql: sqlRescueSettings}}, s.sql(sqlRescue),
		[]any{truncate(params.Now), params.Max, s.callerTime(params.Now)}, func(rows pgx.Rows) error {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
			return nil
		})
	if err != nil {
		return nil, fail("rescue expired jobs", err)
	}
	return jobs, nil
}

// sqlRescueSettings disables bitmap scans for the rest of its transaction
// (set_config's is_local): JobRescueExpired sends it and sqlRescue in one
// batch, one round trip, whose implicit transaction ends the setting.
//
// The rescuer runs every RescueInterval in every process. PostgreSQL
// planned sqlRescue's expired as a bitmap scan of kiln_job_state_inflight,
// and a bitmap scan never marks the index entries of dead rows as dead:
// after a burn-down of 100,000 jobs, on a server whose autovacuum had not
// yet run (or is off), each run visited the 5,393 heap pages of the dead
// running rows (5,785 buffers) to find no job, run after run, until a
// VACUUM (docs/benchmarks.md, "Idle latency after a burn-down"). A plain
// index scan reads the same entries in the index's order, marks those of
// dead rows on its first pass (kill_prior_tuple), and later scans of
// either kind skip them (TestRescueMarksDeadEntries).
const sqlRescueSettings = `SELECT set_config('enable_bitmapscan', 'off', true)`

// sqlDeleteFinished deletes the jobs of the array $1, which the
// transaction locked with sqlLockGroup, unless a pending child waits on
// one: the guard runs again on this statement's snapshot, which sees every
// continuation committed before the lock was taken. It reads the parent
// rows of $1 through kiln_job_parent_parent (as an array, so that the
// planner cannot turn it into a join that reads every parent row). Their
// attempts go with them, and so do their own parent rows (ON DELETE
// CASCADE).
const sqlDeleteFinished = `DELETE FROM {s}.kiln_job
WHERE id = ANY($1::bigint[]) AND id <> ALL(ARRAY(
	SELECT d.parent_id FROM {s}.kiln_job_parent AS d JOIN {s}.kiln_job AS c ON c.id = d.child_id
	WHERE d.parent_id = ANY($1::bigint[]) AND c.state = 'pending'))`

// JobDeleteFinished deletes up to params.Max finalized jobs, with their
// attempts, whose FinalizedAt is before the cut-off of their state, or of
// the most specific of params.Rules that matches them, and returns how
// many jobs it deleted. A zero cut-off deletes no job of that state; a Max
// below 1 deletes none. A job that a pending continuation or batch
// callback waits on is kept, as the SQLite store keeps it.
//
// Every job is read through kiln_job_finalized_kind (state, kind,
// finalized_at), the one index of finalized jobs: for each state that
// params can delete from (store.JobDeleteFinishedParams.CleanedStates),
// sqlFinalizedKinds lists the kinds present (a loose index scan: one seek
// per kind), then each kind's groups
// (store.JobDeleteFinishedParams.RetentionGroups; without rules, one group
// of every queue at the state's cut-off) are deleted oldest first, one
// transaction per group, until params.Max jobs are deleted. So the jobs
// of the first kinds (bytewise) go first, and a pass of Max jobs may
// leave later kinds for the next.
//
// Each group takes two statements in one transaction: sqlLockGroup, then
// sqlDeleteFinished. One statement would read kiln_job_parent on a
// snapshot taken before its locks, and could delete the parent of a
// continuation whose insert committed in between; the insert locks its
// parents FOR KEY SHARE, so the lock either skips such a parent or makes
// the insert wait, then fail with ErrNotFound as for any deleted parent.
// Jobs locked by another transaction are left for the next call.
func (s *Store) JobDeleteFinished(ctx context.Context, params *store.JobDeleteFinishedParams) (int, error) {
	if params.Max < 1 {
		return 0, nil
	}
	total := 0
	for _, state := range params.CleanedStates() {
		rows, err := s.pool.Query(ctx, s.sql(sqlFinalizedKinds), string(state))
		if err != nil {
			return total, fail("list kinds of finalized jobs", err)
		}
		kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return total, fail("list kinds of finalized jobs", err)
		}
		for _, kind := range kinds {
			for _, g := range params.RetentionGroups(state, kind) {
				if total >= params.Max {
					return total, nil
				}
				var n int64
				err := s.inTx(ctx, func(tx pgx.Tx) error {
					rows, err := tx.Query(ctx, s.sql(sqlLockGroup), string(state), kind, truncate(g.Before), g.Queues, g.In,
						params.Max-total)
					if err != nil {
						return err
					}
					ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
					if err != nil || len(ids) == 0 {
						return err
					}
					tag, err := tx.Exec(ctx, s.sql(sqlDeleteFinished), ids)
					n = tag.RowsAffected()
					return err
				})
				if err != nil {
					return total, fail("delete finished jobs of kind "+kind, err)
				}
				total += int(n)
			}
		}
	}
	return total, nil
}
