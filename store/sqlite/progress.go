package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// leaseCheck is the condition under which a running job's reports are
// written: ?2 is its ID, ?3 the lease holder, ?4 the claim's attempted_at
// (NULL: any claim).
const leaseCheck = `id = ?2 AND state = 'running' AND leased_by = ?3 AND (?4 IS NULL OR attempted_at = ?4)`

// sqlProgressSet sets the progress of the current attempt to ?1.
const sqlProgressSet = `UPDATE kiln_job SET progress = ?1, progress_attempt = attempt WHERE ` + leaseCheck

// sqlLogReserve takes ?1 log sequence numbers and returns the last of them
// and the current attempt.
const sqlLogReserve = `UPDATE kiln_job SET log_seq = log_seq + ?1 WHERE ` + leaseCheck + `
RETURNING log_seq, attempt`

// sqlLogInsert inserts one line.
const sqlLogInsert = `INSERT INTO kiln_job_log (job_id, seq, attempt, logged_at, message)
VALUES (?, ?, ?, ?, ?)`

// sqlLogTrim deletes job ?1's lines numbered ?2 or less.
const sqlLogTrim = `DELETE FROM kiln_job_log WHERE job_id = ?1 AND seq <= ?2`

// logLineColumns lists kiln_job_log's columns in scanLogLine's order.
const logLineColumns = `job_id, seq, attempt, logged_at, message`

// sqlLogList returns job ?1's first ?3 lines after seq ?2; sqlLogTail its
// last ones, oldest first. Both read the primary key's range.
const (
	sqlLogList = `SELECT ` + logLineColumns + ` FROM kiln_job_log
WHERE job_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3`
	sqlLogTail = `SELECT * FROM (SELECT ` + logLineColumns + ` FROM kiln_job_log
WHERE job_id = ?1 AND seq > ?2 ORDER BY seq DESC LIMIT ?3) ORDER BY seq`
)

// JobProgressSet sets the progress of the job's current attempt, as
// [store.JobProgressStore] says, in one UPDATE under the write lock.
func (s *Store) JobProgressSet(ctx context.Context, params *store.JobProgressSetParams) (bool, error) {
	what := fmt.Sprintf("set progress of job %d", params.ID)
	if err := params.Validate(); err != nil {
		return false, fail(what, err)
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		res, err := tx.ExecContext(ctx, sqlProgressSet, params.Progress, params.ID, params.LeasedBy,
			leaseClaim(&params.JobReportLease))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fail(what, err)
	}
	return n == 1, nil
}

// JobLogAppend appends log lines to a running job, as
// [store.JobProgressStore] says, in one write transaction: the UPDATE that
// checks the lease also takes the lines' sequence numbers, then the lines
// are inserted and the oldest beyond params.Keep deleted (a range of the
// primary key).
func (s *Store) JobLogAppend(ctx context.Context, params *store.JobLogAppendParams) (bool, error) {
	what := fmt.Sprintf("append log of job %d", params.ID)
	if err := params.Validate(); err != nil {
		return false, fail(what, err)
	}
	applied := false
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		var (
			last    int64
			attempt int
		)
		err := tx.QueryRowContext(ctx, sqlLogReserve, len(params.Lines), params.ID, params.LeasedBy,
			leaseClaim(&params.JobReportLease)).Scan(&last, &attempt)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		applied = true
		kept := params.Kept()
		if len(kept) == 0 {
			return nil
		}
		insert, err := tx.PrepareContext(ctx, sqlLogInsert)
		if err != nil {
			return err
		}
		defer insert.Close()
		first := last - int64(len(kept)) + 1
		for i, l := range kept {
			if _, err := insert.ExecContext(ctx, params.ID, first+int64(i), attempt, micros(l.At), l.Message); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, sqlLogTrim, params.ID, last-int64(params.Keep))
		return err
	})
	if err != nil {
		return false, fail(what, err)
	}
	return applied, nil
}

// JobLogList returns log lines of one job, as [store.JobProgressStore]
// says, from the reader pool.
func (s *Store) JobLogList(ctx context.Context, params *store.JobLogListParams) ([]*kilntype.JobLogLine, error) {
	what := fmt.Sprintf("list log of job %d", params.JobID)
	query := sqlLogList
	if params.Tail {
		query = sqlLogTail
	}
	rows, err := s.r.QueryContext(ctx, query, params.JobID, params.AfterSeq, listLimit(params.Limit))
	if err != nil {
		return nil, fail(what, err)
	}
	defer rows.Close()
	lines := []*kilntype.JobLogLine{}
	for rows.Next() {
		var (
			l  kilntype.JobLogLine
			at int64
		)
		if err := rows.Scan(&l.JobID, &l.Seq, &l.Attempt, &at, &l.Message); err != nil {
			return nil, fail(what, err)
		}
		l.At = fromMicros(at)
		lines = append(lines, &l)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(what, err)
	}
	return lines, nil
}

// leaseClaim returns the claim time to check in leaseCheck: NULL (any
// claim) when l.AttemptedAt is zero.
func leaseClaim(l *store.JobReportLease) any {
	if l.AttemptedAt.IsZero() {
		return nil
	}
	return micros(l.AttemptedAt)
}
