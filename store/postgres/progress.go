package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// leaseCheck is the condition under which a running job's reports are
// written: $1 is its ID, $2 the lease holder, $3 the claim's attempted_at
// (NULL: any claim). The UPDATEs that use it lock the row, so a rescue or a
// finish either waits for them or makes them match nothing.
const leaseCheck = `id = $1 AND state = 'running' AND leased_by = $2
	AND ($3::timestamptz IS NULL OR attempted_at = $3)`

// sqlProgressSet sets the progress of the current attempt to $4. It
// changes no indexed column: a HOT update.
const sqlProgressSet = `UPDATE {s}.kiln_job SET progress = $4, progress_attempt = attempt
WHERE ` + leaseCheck

// sqlLogAppend, in one statement: takes $4 sequence numbers on the job row
// (checking the lease), inserts the lines of the arrays $5 (times) and $6
// (messages) with the last of them, and deletes the job's lines numbered
// $7 (Keep) or more below the new last one. It returns 1 when the lease
// held, 0 otherwise. The DELETE reads the statement's snapshot, which holds
// none of the new lines; none of them is old enough to go, since they are
// at most Keep.
const sqlLogAppend = `WITH j AS (
	UPDATE {s}.kiln_job SET log_seq = log_seq + $4 WHERE ` + leaseCheck + `
	RETURNING id, attempt, log_seq
), ins AS (
	INSERT INTO {s}.kiln_job_log (job_id, seq, attempt, logged_at, message)
	SELECT j.id, j.log_seq - cardinality($6::text[]) + l.n, j.attempt, l.at, l.message
	FROM j, unnest($5::timestamptz[], $6::text[]) WITH ORDINALITY AS l(at, message, n)
), trimmed AS (
	DELETE FROM {s}.kiln_job_log AS d USING j WHERE d.job_id = j.id AND d.seq <= j.log_seq - $7
)
SELECT count(*) FROM j`

// logLineColumns lists kiln_job_log's columns in the order JobLogList
// reads them.
const logLineColumns = `job_id, seq, attempt, logged_at, message`

// sqlLogList returns job $1's first $3 lines after seq $2; sqlLogTail its
// last ones, oldest first. Both read the primary key's range.
const (
	sqlLogList = `SELECT ` + logLineColumns + ` FROM {s}.kiln_job_log
WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`
	sqlLogTail = `SELECT * FROM (SELECT ` + logLineColumns + ` FROM {s}.kiln_job_log
WHERE job_id = $1 AND seq > $2 ORDER BY seq DESC LIMIT $3) AS t ORDER BY seq`
)

// JobProgressSet sets the progress of the job's current attempt, as
// [store.JobProgressStore] says, in one UPDATE.
func (s *Store) JobProgressSet(ctx context.Context, params *store.JobProgressSetParams) (bool, error) {
	what := fmt.Sprintf("set progress of job %d", params.ID)
	if err := params.Validate(); err != nil {
		return false, fail(what, err)
	}
	tag, err := s.pool.Exec(ctx, s.sql(sqlProgressSet), params.ID, params.LeasedBy,
		leaseClaim(&params.JobReportLease), params.Progress)
	if err != nil {
		return false, fail(what, err)
	}
	return tag.RowsAffected() == 1, nil
}

// JobLogAppend appends log lines to a running job, as
// [store.JobProgressStore] says, in one statement (sqlLogAppend).
func (s *Store) JobLogAppend(ctx context.Context, params *store.JobLogAppendParams) (bool, error) {
	what := fmt.Sprintf("append log of job %d", params.ID)
	if err := params.Validate(); err != nil {
		return false, fail(what, err)
	}
	kept := params.Kept()
	ats, messages := make([]time.Time, len(kept)), make([]string, len(kept))
	for i, l := range kept {
		ats[i], messages[i] = truncate(l.At), l.Message
	}
	var n int
	err := s.pool.QueryRow(ctx, s.sql(sqlLogAppend), params.ID, params.LeasedBy,
		leaseClaim(&params.JobReportLease), len(params.Lines), ats, messages, params.Keep).Scan(&n)
	if err != nil {
		return false, fail(what, err)
	}
	return n == 1, nil
}

// JobLogList returns log lines of one job, as [store.JobProgressStore]
// says.
func (s *Store) JobLogList(ctx context.Context, params *store.JobLogListParams) ([]*kilntype.JobLogLine, error) {
	what := fmt.Sprintf("list log of job %d", params.JobID)
	query := sqlLogList
	if params.Tail {
		query = sqlLogTail
	}
	rows, err := s.pool.Query(ctx, s.sql(query), params.JobID, params.AfterSeq, listLimit(params.Limit))
	if err != nil {
		return nil, fail(what, err)
	}
	lines, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*kilntype.JobLogLine, error) {
		var l kilntype.JobLogLine
		if err := row.Scan(&l.JobID, &l.Seq, &l.Attempt, &l.At, &l.Message); err != nil {
			return nil, err
		}
		l.At = l.At.UTC()
		return &l, nil
	})
	if err != nil {
		return nil, fail(what, err)
	}
	if lines == nil {
		lines = []*kilntype.JobLogLine{}
	}
	return lines, nil
}

// leaseClaim returns the claim time to check in leaseCheck: nil (any claim)
// when l.AttemptedAt is zero.
func leaseClaim(l *store.JobReportLease) *time.Time {
	if l.AttemptedAt.IsZero() {
		return nil
	}
	t := truncate(l.AttemptedAt)
	return &t
}
