package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlGetJobForUpdate reads and locks one job.
const sqlGetJobForUpdate = `SELECT ` + jobColumns + ` FROM {s}.kiln_job WHERE id = $1 FOR UPDATE`

// sqlCancelNow cancels job $2 at $1, and writes its counter deltas: old
// locks the job and reads the pair it leaves (the UPDATE's initplan reads
// old whole before it updates), counted appends the deltas of the move.
var sqlCancelNow = `WITH old AS MATERIALIZED (
	SELECT id, queue, state FROM {s}.kiln_job WHERE id = $2 FOR NO KEY UPDATE
),
moved AS (
	UPDATE {s}.kiln_job SET state = 'cancelled', finalized_at = $1
	WHERE id = ANY(ARRAY(SELECT id FROM old)) RETURNING ` + jobColumns + `
),
counted AS (
	` + countMoves("moved AS m JOIN old AS o ON o.id = m.id", "m.queue", "m.state", "o.queue", "o.state") + `
)
SELECT ` + jobColumns + ` FROM moved`

// sqlCancelRequest asks the process running job $2 to cancel it; the first
// request's time is kept.
const sqlCancelRequest = `UPDATE {s}.kiln_job SET cancel_requested_at = coalesce(cancel_requested_at, $1)
WHERE id = $2 RETURNING ` + jobColumns

// sqlRetry makes job $2 available at $1, with one more attempt allowed if it
// used them all.
//
// A completed job's successful attempt, which its row records (see
// migration 009), is first appended to its attempt rows: the row's record
// of it is cleared, since the job will run again. old locks the job and
// reads it as it is before (the UPDATE's initplan reads old whole before it
// updates), for kept and for counted, which writes the counter deltas of
// the move.
var sqlRetry = `WITH old AS MATERIALIZED (
	SELECT id, queue, state, attempt, attempted_at, finalized_at, attempted_by FROM {s}.kiln_job
	WHERE id = $2 FOR NO KEY UPDATE
),
kept AS (
	INSERT INTO {s}.kiln_job_attempt (job_id, attempt, started_at, finished_at, server, outcome)
	SELECT id, attempt, attempted_at, finalized_at, attempted_by, 'succeeded' FROM old
	WHERE state = 'completed' AND attempted_by IS NOT NULL
),
moved AS (
	UPDATE {s}.kiln_job SET state = 'available', scheduled_at = $1,
		max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END,
		finalized_at = NULL, cancel_requested_at = NULL, attempted_by = NULL, output = NULL
	WHERE id = ANY(ARRAY(SELECT id FROM old)) RETURNING ` + jobColumns + `
),
counted AS (
	` + countMoves("moved AS m JOIN old AS o ON o.id = m.id", "m.queue", "m.state", "o.queue", "o.state") + `
)
SELECT ` + jobColumns + ` FROM moved`

// sqlDeleteJob deletes one job; its attempts go with it (ON DELETE CASCADE).
const sqlDeleteJob = `DELETE FROM {s}.kiln_job WHERE id = $1`

// JobCancel cancels the job params.ID. A pending, scheduled, available or
// retryable job becomes cancelled at once, finalized at params.Now. A running
// job keeps running with CancelRequestedAt set to params.Now (or to the time
// of an earlier request), for its process to cancel it. A cancelled job is
// returned as is. A completed or discarded job gives a wrapped
// kilntype.ErrJobState, an unknown ID a wrapped kilntype.ErrNotFound. It
// returns the job after the change.
func (s *Store) JobCancel(ctx context.Context, params *store.JobCancelParams) (*kilntype.JobRow, error) {
	var job *kilntype.JobRow
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if job, err = s.getForUpdate(ctx, tx, params.ID); err != nil {
			return err
		}
		var update string
		switch job.State {
		case kilntype.JobStateCancelled:
			return s.auditInTx(ctx, tx, job)
		case kilntype.JobStateCompleted, kilntype.JobStateDiscarded:
			return fmt.Errorf("job is %s: %w", job.State, kilntype.ErrJobState)
		case kilntype.JobStateRunning:
			update = sqlCancelRequest
		default: // pending, scheduled, available, retryable
			update = sqlCancelNow
		}
		if job, err = scanJob(tx.QueryRow(ctx, s.sql(update), truncate(params.Now), params.ID)); err != nil {
			return err
		}
		if err := s.notifyCancelRequested(ctx, tx, job); err != nil {
			return err
		}
		return s.auditInTx(ctx, tx, job)
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if job, err = s.getForUpdate(ctx, tx, params.ID); err != nil {
			return err
		}
		switch job.State {
		case kilntype.JobStateAvailable:
			return s.auditInTx(ctx, tx, job)
		case kilntype.JobStateRunning:
			return fmt.Errorf("job is running: %w", kilntype.ErrJobRunning)
		case kilntype.JobStatePending:
			return fmt.Errorf("job is pending: %w", kilntype.ErrJobState)
		}
		retried, err := scanJob(tx.QueryRow(ctx, s.sql(sqlRetry), truncate(params.Now), params.ID))
		if err != nil && isUniqueViolation(err) {
			return fmt.Errorf("unique key %q is held by another job: %w: %w",
				job.UniqueKey, kilntype.ErrJobState, err)
		}
		if err != nil {
			return err
		}
		job = retried
		return s.auditInTx(ctx, tx, job)
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if job, err = s.getForUpdate(ctx, tx, id); err != nil {
			return err
		}
		if job.State == kilntype.JobStateRunning {
			return fmt.Errorf("job is running: %w", kilntype.ErrJobRunning)
		}
		if _, err = tx.Exec(ctx, s.sql(sqlDeleteJob), id); err != nil {
			return err
		}
		return s.auditInTx(ctx, tx, job)
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("delete job %d", id), err)
	}
	return job, nil
}

// getForUpdate reads and locks job id in tx, so that it cannot change
// before tx ends. An unknown ID gives kilntype.ErrNotFound.
func (s *Store) getForUpdate(ctx context.Context, tx pgx.Tx, id int64) (*kilntype.JobRow, error) {
	job, err := scanJob(tx.QueryRow(ctx, s.sql(sqlGetJobForUpdate), id))
	if isNoRows(err) {
		return nil, kilntype.ErrNotFound
	}
	return job, err
}
