package postgres

import (
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
)

// jobColumns lists kiln_job's columns in the order scanJob reads them.
const jobColumns = `id, kind, queue, args, state, priority, attempt, max_attempts,
	created_at, scheduled_at, attempted_at, finalized_at, leased_by,
	lease_expires_at, cancel_requested_at, tags, metadata, unique_key, last_error,
	progress, progress_attempt`

// qualified returns columns, a comma-separated list, with each column
// prefixed by alias and a dot.
func qualified(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// attemptColumns lists kiln_job_attempt's columns in the order scanAttempt
// reads them.
const attemptColumns = `job_id, attempt, started_at, finished_at, server, outcome, error, trace`

// scanJob reads one row of jobColumns.
func scanJob(row pgx.Row) (*kilntype.JobRow, error) {
	var (
		j                                            kilntype.JobRow
		state                                        string
		attemptedAt, finalizedAt, leaseExp, cancelAt *time.Time
		leasedBy, uniqueKey, lastError               *string
		progress, progressAttempt                    *int32
	)
	// Args and Metadata scan as plain bytes: pgx would hand a
	// *json.RawMessage to encoding/json, which walks the whole document
	// once more before the worker decodes it.
	err := row.Scan(&j.ID, &j.Kind, &j.Queue, (*[]byte)(&j.Args), &state, &j.Priority, &j.Attempt,
		&j.MaxAttempts, &j.CreatedAt, &j.ScheduledAt, &attemptedAt, &finalizedAt, &leasedBy,
		&leaseExp, &cancelAt, &j.Tags, (*[]byte)(&j.Metadata), &uniqueKey, &lastError,
		&progress, &progressAttempt)
	if err != nil {
		return nil, err
	}
	j.ArgsBytes = len(j.Args)
	j.State = kilntype.JobState(state)
	j.CreatedAt = j.CreatedAt.UTC()
	j.ScheduledAt = j.ScheduledAt.UTC()
	j.AttemptedAt = utcPtr(attemptedAt)
	j.FinalizedAt = utcPtr(finalizedAt)
	j.LeaseExpiresAt = utcPtr(leaseExp)
	j.CancelRequestedAt = utcPtr(cancelAt)
	j.LeasedBy = deref(leasedBy)
	j.UniqueKey = deref(uniqueKey)
	j.LastError = deref(lastError)
	if progress != nil && progressAttempt != nil && int(*progressAttempt) == j.Attempt {
		p := int(*progress)
		j.Progress = &p
	}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	return &j, nil
}

// scanJobs reads every row of rows with scanJob and closes rows. It takes
// Query's results as they are: err is returned as is.
func scanJobs(rows pgx.Rows, err error) ([]*kilntype.JobRow, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	jobs := []*kilntype.JobRow{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// scanAttempt reads one row of attemptColumns.
func scanAttempt(row pgx.Row) (*kilntype.JobAttempt, error) {
	var (
		a       kilntype.JobAttempt
		outcome string
	)
	if err := row.Scan(&a.JobID, &a.Attempt, &a.StartedAt, &a.FinishedAt, &a.Server,
		&outcome, &a.Error, &a.Trace); err != nil {
		return nil, err
	}
	a.StartedAt = a.StartedAt.UTC()
	a.FinishedAt = utcPtr(a.FinishedAt)
	a.Outcome = kilntype.AttemptOutcome(outcome)
	return &a, nil
}

// utcPtr returns *t in UTC, or nil for nil.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// deref returns *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// truncate gives t as the store returns it once stored: UTC, to the
// microsecond (timestamptz's precision; pgx drops the nanoseconds the same
// way when it sends a time).
func truncate(t time.Time) time.Time { return time.UnixMicro(t.UnixMicro()).UTC() }

// nullString maps "" to NULL, for the columns where NULL means unset.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
