package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlGetJob returns one job.
const sqlGetJob = `SELECT ` + jobColumns + ` FROM kiln_job WHERE id = ?`

// sqlCancelNow cancels job ?2 at ?1.
const sqlCancelNow = `UPDATE kiln_job SET state = 'cancelled', finalized_at = ?1
WHERE id = ?2 RETURNING ` + jobColumns

// sqlCancelRequest asks the process running job ?2 to cancel it; the first
// request's time is kept.
const sqlCancelRequest = `UPDATE kiln_job SET cancel_requested_at = coalesce(cancel_requested_at, ?1)
WHERE id = ?2 RETURNING ` + jobColumns

// sqlRetry makes job ?2 available at ?1, with one more attempt allowed if it
// used them all.
const sqlRetry = `UPDATE kiln_job SET state = 'available', scheduled_at = ?1,
	max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END,
	finalized_at = NULL, cancel_requested_at = NULL, attempted_by = NULL, output = NULL
WHERE id = ?2 RETURNING ` + jobColumns

// sqlKeepSuccessfulAttempt appends to job ?1's attempt rows the successful
// attempt that its row keeps while it is completed (migration 009).
const sqlKeepSuccessfulAttempt = `INSERT INTO kiln_job_attempt (job_id, attempt, started_at, finished_at, server, outcome)
SELECT id, attempt, attempted_at, finalized_at, attempted_by, 'succeeded' FROM kiln_job
WHERE id = ?1 AND state = 'completed' AND attempted_by IS NOT NULL`

// sqlDeleteJob deletes one job; its attempts go with it (ON DELETE CASCADE).
const sqlDeleteJob = `DELETE FROM kiln_job WHERE id = ?`

// JobCancel cancels the job params.ID. A pending, scheduled, available or
// retryable job becomes cancelled at once, finalized at params.Now. A running
// job keeps running with CancelRequestedAt set to params.Now (or to the time
// of an earlier request), for its process to cancel it. A cancelled job is
// returned as is. A completed or discarded job gives a wrapped
// kilntype.ErrJobState, an unknown ID a wrapped kilntype.ErrNotFound. It
// returns the job after the change.
func (s *Store) JobCancel(ctx context.Context, params *store.JobCancelParams) (*kilntype.JobRow, error) {
	var job *kilntype.JobRow
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		var err error
		if job, err = getForUpdate(ctx, tx, st, params.ID); err != nil {
			return err
		}
		var update *sql.Stmt
		switch job.State {
		case kilntype.JobStateCancelled:
			return auditInTx(ctx, tx, job)
		case kilntype.JobStateCompleted, kilntype.JobStateDiscarded:
			return fmt.Errorf("job is %s: %w", job.State, kilntype.ErrJobState)
		case kilntype.JobStateRunning:
			update = st.cancelRequest
		default: // pending, scheduled, available, retryable
			update = st.cancelNow
		}
		if job, err = scanJob(tx.StmtContext(ctx, update).QueryRowContext(ctx, micros(params.Now), params.ID)); err != nil {
			return err
		}
		return auditInTx(ctx, tx, job)
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("cancel job %d", params.ID), err)
	}
	return job, nil
}

// JobRetry makes the job params.ID available at params.Now: ScheduledAt
// becomes Now, FinalizedAt is cleared, and MaxAttempts is raised to
// Attempt+1 if the job used all its attempts. It applies to scheduled,
// retryable, cancelled, discarded and completed jobs; an available job is
// returned as is. A running job gives a wrapped kilntype.ErrJobRunning, an
// unknown ID a wrapped kilntype.ErrNotFound. A pending job, or a finalized
// job whose UniqueKey is now held by another job that may still run, gives a
// wrapped kilntype.ErrJobState. It returns the job after the change.
func (s *Store) JobRetry(ctx context.Context, params *store.JobRetryParams) (*kilntype.JobRow, error) {
	var job *kilntype.JobRow
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		var err error
		if job, err = getForUpdate(ctx, tx, st, params.ID); err != nil {
			return err
		}
		switch job.State {
		case kilntype.JobStateAvailable:
			return auditInTx(ctx, tx, job)
		case kilntype.JobStateRunning:
			return fmt.Errorf("job is running: %w", kilntype.ErrJobRunning)
		case kilntype.JobStatePending:
			return fmt.Errorf("job is pending: %w", kilntype.ErrJobState)
		}
		// A completed job's successful attempt, kept on its row, becomes a
		// row before the job runs again.
		if _, err := tx.ExecContext(ctx, sqlKeepSuccessfulAttempt, params.ID); err != nil {
			return err
		}
		retried, err := scanJob(tx.StmtContext(ctx, st.retry).QueryRowContext(ctx, micros(params.Now), params.ID))
		if err != nil && isUniqueViolation(err) {
			return fmt.Errorf("unique key %q is held by another job: %w: %w",
				job.UniqueKey, kilntype.ErrJobState, err)
		}
		if err != nil {
			return err
		}
		job = retried
		return auditInTx(ctx, tx, job)
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("retry job %d", params.ID), err)
	}
	return job, nil
}

// JobDelete deletes the job id and its attempts, and returns the job as it
// was. A running job gives a wrapped kilntype.ErrJobRunning (cancel it
// first), an unknown ID a wrapped kilntype.ErrNotFound.
func (s *Store) JobDelete(ctx context.Context, params *store.JobDeleteParams) (*kilntype.JobRow, error) {
	id := params.ID
	var job *kilntype.JobRow
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		var err error
		if job, err = getForUpdate(ctx, tx, st, id); err != nil {
			return err
		}
		if job.State == kilntype.JobStateRunning {
			return fmt.Errorf("job is running: %w", kilntype.ErrJobRunning)
		}
		if _, err = tx.StmtContext(ctx, st.deleteJob).ExecContext(ctx, id); err != nil {
			return err
		}
		return auditInTx(ctx, tx, job)
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("delete job %d", id), err)
	}
	return job, nil
}

// getForUpdate reads job id inside a writer transaction, which holds the
// write lock, so the job cannot change before tx ends. An unknown ID gives a
// wrapped kilntype.ErrNotFound.
func getForUpdate(ctx context.Context, tx *sql.Tx, st *stmts, id int64) (*kilntype.JobRow, error) {
	job, err := scanJob(tx.StmtContext(ctx, st.getJob).QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, kilntype.ErrNotFound
	}
	return job, err
}
