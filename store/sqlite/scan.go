package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/kilnjobs/kiln/kilntype"
)

// jobColumns lists kiln_job's columns in the order scanJob reads them.
const jobColumns = `id, kind, queue, args, state, priority, attempt, max_attempts,
	created_at, scheduled_at, attempted_at, finalized_at, leased_by,
	lease_expires_at, cancel_requested_at, tags, metadata, unique_key, last_error,
	progress, progress_attempt, partition_key`

// attemptColumns lists kiln_job_attempt's columns in the order scanAttempt
// reads them.
const attemptColumns = `job_id, attempt, started_at, finished_at, server, outcome, error, trace`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// scanJob reads one row of jobColumns, followed by extra columns, if any,
// into extra.
func scanJob(sc scanner, extra ...any) (*kilntype.JobRow, error) {
	var (
		j                                            kilntype.JobRow
		state, tags                                  string
		createdAt, scheduledAt                       int64
		attemptedAt, finalizedAt, leaseExp, cancelAt sql.NullInt64
		leasedBy, uniqueKey, lastError               sql.NullString
		args, metadata                               []byte
		progress, progressAttempt                    sql.NullInt64
	)
	err := sc.Scan(append([]any{&j.ID, &j.Kind, &j.Queue, &args, &state, &j.Priority, &j.Attempt,
		&j.MaxAttempts, &createdAt, &scheduledAt, &attemptedAt, &finalizedAt, &leasedBy,
		&leaseExp, &cancelAt, &tags, &metadata, &uniqueKey, &lastError,
		&progress, &progressAttempt, &j.Partition}, extra...)...)
	if err != nil {
		return nil, err
	}
	j.Args, j.ArgsBytes = args, len(args)
	j.Metadata = metadata
	j.State = kilntype.JobState(state)
	j.CreatedAt = fromMicros(createdAt)
	j.ScheduledAt = fromMicros(scheduledAt)
	j.AttemptedAt = fromNullMicros(attemptedAt)
	j.FinalizedAt = fromNullMicros(finalizedAt)
	j.LeaseExpiresAt = fromNullMicros(leaseExp)
	j.CancelRequestedAt = fromNullMicros(cancelAt)
	j.LeasedBy = leasedBy.String
	j.UniqueKey = uniqueKey.String
	j.LastError = lastError.String
	if progress.Valid && progressAttempt.Int64 == int64(j.Attempt) {
		p := int(progress.Int64)
		j.Progress = &p
	}
	if j.Tags, err = decodeTags(tags); err != nil {
		return nil, fmt.Errorf("job %d: %w", j.ID, err)
	}
	return &j, nil
}

// scanJobs reads every row of rows with scanJob and closes rows. It takes
// QueryContext's results as they are: err is returned as is.
func scanJobs(rows *sql.Rows, err error) ([]*kilntype.JobRow, error) {
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
func scanAttempt(sc scanner) (*kilntype.JobAttempt, error) {
	var (
		a          kilntype.JobAttempt
		startedAt  int64
		finishedAt sql.NullInt64
		outcome    string
	)
	if err := sc.Scan(&a.JobID, &a.Attempt, &startedAt, &finishedAt, &a.Server,
		&outcome, &a.Error, &a.Trace); err != nil {
		return nil, err
	}
	a.StartedAt = fromMicros(startedAt)
	a.FinishedAt = fromNullMicros(finishedAt)
	a.Outcome = kilntype.AttemptOutcome(outcome)
	return &a, nil
}

// micros converts t to the stored form: Unix microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

// nullMicros is micros for a nullable column: nil stays NULL.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros converts stored Unix microseconds to a UTC time.
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// fromNullMicros is fromMicros for a nullable column: NULL gives nil.
func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// truncate gives t as the store returns it once stored: UTC, to the
// microsecond.
func truncate(t time.Time) time.Time { return fromMicros(micros(t)) }

// nullString maps "" to NULL, for the columns where NULL means unset.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// encodeTags encodes tags as a JSON array; nil gives [].
func encodeTags(tags []string) (string, error) {
	if len(tags) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return "", fmt.Errorf("encode tags: %w", err)
	}
	return string(b), nil
}

// decodeTags decodes a stored JSON array of tags; it never returns nil.
func decodeTags(s string) ([]string, error) {
	if s == "[]" || s == "" {
		return []string{}, nil
	}
	tags := []string{}
	if err := json.Unmarshal([]byte(s), &tags); err != nil {
		return nil, fmt.Errorf("decode tags: %w", err)
	}
	return tags, nil
}

// jsonIDs encodes ids as a JSON array, for `IN (SELECT value FROM json_each(?))`.
func jsonIDs(ids []int64) string {
	b := make([]byte, 0, 2+len(ids)*8)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

// appendJSONString appends s to b as a JSON string, as json.Marshal
// would encode it (but for HTML characters, which it leaves as they are),
// without reflection: one allocation fewer per string than json.Marshal,
// none at all when b has room. A string that is not valid UTF-8 goes
// through json.Marshal, which replaces each invalid byte with U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		q, _ := json.Marshal(s) // a string always encodes
		return append(b, q...)
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// jsonStrings encodes ss as a JSON array; nil gives NULL, so that
// `?n IS NULL OR x IN (SELECT value FROM json_each(?n))` means "any".
func jsonStrings(ss []string) (any, error) {
	if ss == nil {
		return nil, nil
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}
