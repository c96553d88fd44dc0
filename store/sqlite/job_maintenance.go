package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlScheduleDue makes available up to ?2 scheduled or retryable jobs due
// at ?1, earliest first.
const sqlScheduleDue = `UPDATE kiln_job SET state = 'available'
WHERE id IN (
	SELECT id FROM kiln_job INDEXED BY kiln_job_due
	WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= ?1
	ORDER BY scheduled_at
	LIMIT ?2
)`

// JobScheduleDue makes available up to params.Max scheduled or retryable
// jobs whose ScheduledAt <= params.Now, earliest first, and returns how many
// it moved. A Max below 1 moves none.
func (s *Store) JobScheduleDue(ctx context.Context, params *store.JobScheduleDueParams) (int, error) {
	if params.Max < 1 {
		return 0, nil
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		res, err := tx.StmtContext(ctx, st.scheduleDue).ExecContext(ctx, micros(params.Now), params.Max)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fail("schedule due jobs", err)
	}
	return int(n), nil
}

// sqlSelectExpired returns up to ?2 running jobs whose lease expired before
// ?1, earliest expiry first, with what their interrupted attempt records.
const sqlSelectExpired = `SELECT id, attempt, attempted_at, leased_by FROM kiln_job INDEXED BY kiln_job_state_inflight
WHERE state = 'running' AND ` + sqlInflightPredicate + ` AND lease_expires_at < ?1
ORDER BY lease_expires_at
LIMIT ?2`

// sqlAnyExpired says whether a running job's lease expired before ?1. It
// runs on a reader, so that the rescuer, which every process runs, takes
// the single write lock only when there is something to rescue.
const sqlAnyExpired = `SELECT EXISTS (SELECT 1 FROM kiln_job INDEXED BY kiln_job_state_inflight
WHERE state = 'running' AND ` + sqlInflightPredicate + ` AND lease_expires_at < ?1)`

// sqlRescue takes back running job ?3 at ?1 with the error ?2: cancelled if
// a cancel was requested, discarded if it used all its attempts, retryable
// at ?1 otherwise.
const sqlRescue = `UPDATE kiln_job SET
	state = CASE
		WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
		WHEN attempt >= max_attempts THEN 'discarded'
		ELSE 'retryable' END,
	scheduled_at = CASE
		WHEN cancel_requested_at IS NULL AND attempt < max_attempts THEN ?1
		ELSE scheduled_at END,
	finalized_at = CASE
		WHEN cancel_requested_at IS NOT NULL OR attempt >= max_attempts THEN ?1
		ELSE NULL END,
	last_error = ?2,
	leased_by = NULL, lease_expires_at = NULL, cancel_requested_at = NULL
WHERE id = ?3 AND state = 'running'
RETURNING ` + jobColumns

// sqlInsertAttempt appends an attempt to job ?1's history, if the job still
// exists.
const sqlInsertAttempt = `INSERT INTO kiln_job_attempt (job_id, attempt, started_at,
	finished_at, server, outcome, error, trace)
SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM kiln_job WHERE id = ?1)`

// JobRescueExpired takes back up to params.Max running jobs whose lease
// expired before params.Now (LeaseExpiresAt < Now), earliest expiry first. A
// job with a cancel request becomes cancelled, a job that used all its
// attempts becomes discarded (both finalized at Now), any other becomes
// retryable at Now. The lease and cancel request are cleared. Each job gets
// an interrupted attempt (the lost attempt still counts against
// MaxAttempts) whose error, also kept as LastError, says that the lease
// expired and names the process that held it. It returns the rescued jobs as
// they are after the move, earliest expiry first. A Max below 1 rescues
// none. It first looks for an expired lease on a reader connection, and
// takes the write lock only if it found one: every process's rescuer calls
// it, mostly for nothing. Rescues of several processes sharing the file are
// serialized by that lock, and each reads the expired jobs again under it,
// so a job is rescued, and its attempt recorded, once.
func (s *Store) JobRescueExpired(ctx context.Context, params *store.JobRescueExpiredParams) ([]*kilntype.JobRow, error) {
	rescued := []*kilntype.JobRow{}
	if params.Max < 1 {
		return rescued, nil
	}
	now := micros(params.Now)
	var found bool
	if err := s.r.QueryRowContext(ctx, sqlAnyExpired, now).Scan(&found); err != nil {
		return nil, fail("rescue expired jobs", err)
	}
	if !found {
		return rescued, nil
	}
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		type expired struct {
			id          int64
			attempt     int
			attemptedAt sql.NullInt64
			leasedBy    sql.NullString
		}
		var jobs []expired
		rows, err := tx.StmtContext(ctx, st.selectExpired).QueryContext(ctx, now, params.Max)
		if err != nil {
			return fmt.Errorf("select expired: %w", err)
		}
		for rows.Next() {
			var e expired
			if err := rows.Scan(&e.id, &e.attempt, &e.attemptedAt, &e.leasedBy); err != nil {
				rows.Close()
				return fmt.Errorf("select expired: %w", err)
			}
			jobs = append(jobs, e)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("select expired: %w", err)
		}
		rescue := tx.StmtContext(ctx, st.rescue)
		insertAttempt := tx.StmtContext(ctx, st.insertAttempt)
		for _, e := range jobs {
			msg := fmt.Sprintf("lease expired: process %q stopped renewing it (it crashed, hung or lost the database)", e.leasedBy.String)
			job, err := scanJob(rescue.QueryRowContext(ctx, now, msg, e.id))
			if err != nil {
				return fmt.Errorf("job %d: %w", e.id, err)
			}
			startedAt := now
			if e.attemptedAt.Valid {
				startedAt = e.attemptedAt.Int64
			}
			if _, err := insertAttempt.ExecContext(ctx, e.id, e.attempt, startedAt, now,
				e.leasedBy.String, string(kilntype.AttemptInterrupted), msg, ""); err != nil {
				return fmt.Errorf("job %d: record attempt: %w", e.id, err)
			}
			rescued = append(rescued, job)
		}
		return nil
	})
	if err != nil {
		return nil, fail("rescue expired jobs", err)
	}
	return rescued, nil
}

// JobDeleteFinished deletes up to params.Max finalized jobs, with their
// attempts, whose FinalizedAt is before the cut-off of their state, or of
// the most specific of params.Rules that matches them, and returns how
// many jobs it deleted. A zero cut-off deletes no job of that state; a Max
// below 1 deletes none. A job that a pending continuation or batch
// callback still waits on is kept: its outcome decides the child's.
//
// Every job is read through kiln_job_finalized_kind (state, kind,
// finalized_at), the one index of finalized jobs: for each state that
// params can delete from (store.JobDeleteFinishedParams.CleanedStates),
// sqlFinalizedKinds lists the kinds present (a loose index scan: one seek
// per kind) from the reader pool, then sqlDeleteGroup deletes each kind's
// groups (store.JobDeleteFinishedParams.RetentionGroups; without rules,
// one group of every queue at the state's cut-off), one write transaction
// per statement, until params.Max jobs are deleted. So the jobs of the
// first kinds (bytewise) go first, and a pass of Max jobs may leave later
// kinds for the next.
func (s *Store) JobDeleteFinished(ctx context.Context, params *store.JobDeleteFinishedParams) (int, error) {
	if params.Max < 1 {
		return 0, nil
	}
	total := 0
	for _, state := range params.CleanedStates() {
		kinds, err := s.finalizedKinds(ctx, state)
		if err != nil {
			return total, err
		}
		for _, kind := range kinds {
			for _, g := range params.RetentionGroups(state, kind) {
				if total >= params.Max {
					return total, nil
				}
				queues, err := json.Marshal(g.Queues)
				if err != nil {
					return total, fail("delete finished jobs of kind "+kind, err)
				}
				var n int64
				err = s.write(ctx, func(tx *sql.Tx, st *stmts) error {
					res, err := tx.StmtContext(ctx, st.deleteGroup).ExecContext(ctx, string(state), kind,
						micros(g.Before), string(queues), g.In, params.Max-total)
					if err != nil {
						return err
					}
					n, err = res.RowsAffected()
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
