package postgres

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kilnjobs/kiln/kilntype"
)

// jobColumns lists kiln_job's columns in the order scanJob reads them.
const jobColumns = `id, kind, queue, args, state, priority, attempt, max_attempts,
	created_at, scheduled_at, attempted_at, finalized_at, leased_by,
	lease_expires_at, cancel_requested_at, tags, metadata, unique_key, last_error,
	progress, progress_attempt, partition_key`

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
	return new(jobScanner).scan(row)
}

// jobScanner reads rows of jobColumns, one after the other (the rows of
// one batch), each into a scannedJob of its own. It holds what a row's
// Scan needs only while it runs: Scan's arguments and the values read
// beside the row (one allocation per batch, not per row; a slice of
// arguments per row would be one more allocation per row, and one more
// again to append the extra column to it). With texts, the rows' kind,
// queue, state and lease holder are read through it: the rows that repeat
// the previous row's values share its strings.
type jobScanner struct {
	texts *repeatedTexts // nil: each row's texts are its own
	state string
	// times are attempted_at, finalized_at, lease_expires_at and
	// cancel_requested_at, as read.
	times                          [4]pgtype.Timestamptz
	leasedBy, uniqueKey, lastError pgtype.Text
	progress, progressAttempt      pgtype.Int4
	// shared are the times the previous row pointed to (attempted_at,
	// finalized_at, lease_expires_at, cancel_requested_at): a row whose time
	// equals the previous row's points to the same value, as the rows of
	// one claim do for their attempted_at and lease_expires_at, which the
	// claim sets alike on each. Nothing writes through a row's times.
	shared [4]*time.Time
	// full is the extra column of a claim's row (scanClaimed).
	full bool
	// dest holds Scan's arguments during scan: one per column of
	// jobColumns, and the extra ones.
	dest [jobColumnsScanned + maxScanExtra]any
}

// jobColumnsScanned is the number of columns of jobColumns, and
// maxScanExtra the most columns after them that jobScanner.scan reads (a
// round of a claim by partition key: its outcome, then deepColumns).
const (
	jobColumnsScanned = 22
	maxScanExtra      = 8
)

// newClaimScanner returns the jobScanner of a claim's rows, whose texts
// repeat from row to row.
func newClaimScanner() *jobScanner {
	return &jobScanner{texts: newRepeatedTexts()}
}

// scan reads one row of jobColumns, followed by as many more columns as
// extra holds (at most maxScanExtra), read into extra's scan targets, into
// a new scannedJob and returns its row: one allocation per row (384
// bytes), which holds the row and the progress it points to. Its times are
// allocated only when they differ from the previous row's (see shared).
func (sc *jobScanner) scan(row pgx.Row, extra ...any) (*kilntype.JobRow, error) {
	job := new(scannedJob)
	j := &job.row
	kind, queue, state, leasedBy := any(&j.Kind), any(&j.Queue), any(&sc.state), any(&sc.leasedBy)
	if texts := sc.texts; texts != nil {
		texts.kind.to, texts.queue.to, texts.state.to, texts.leasedBy.to = &j.Kind, &j.Queue, &sc.state, &j.LeasedBy
		kind, queue, state, leasedBy = &texts.kind, &texts.queue, &texts.state, &texts.leasedBy
	}
	// Args and Metadata scan as plain bytes: pgx would hand a
	// *json.RawMessage to encoding/json, which walks the whole document
	// once more before the worker decodes it.
	sc.dest = [len(sc.dest)]any{&j.ID, kind, queue, (*[]byte)(&j.Args), state, &j.Priority, &j.Attempt,
		&j.MaxAttempts, &j.CreatedAt, &j.ScheduledAt, &sc.times[0], &sc.times[1], leasedBy,
		&sc.times[2], &sc.times[3], &j.Tags, (*[]byte)(&j.Metadata), &sc.uniqueKey, &sc.lastError,
		&sc.progress, &sc.progressAttempt, &j.Partition}
	if len(extra) > maxScanExtra {
		return nil, fmt.Errorf("scan a job: %d columns after the job's, at most %d", len(extra), maxScanExtra)
	}
	dest := sc.dest[:jobColumnsScanned+copy(sc.dest[jobColumnsScanned:], extra)]
	err := row.Scan(dest...)
	sc.dest = [len(sc.dest)]any{} // the row outlives the scan: keep no pointers to it
	if sc.texts != nil {
		sc.texts.kind.to, sc.texts.queue.to, sc.texts.state.to, sc.texts.leasedBy.to = nil, nil, nil, nil
	}
	if err != nil {
		return nil, err
	}
	j.ArgsBytes = len(j.Args)
	j.State = kilntype.JobState(sc.state)
	j.CreatedAt = j.CreatedAt.UTC()
	j.ScheduledAt = j.ScheduledAt.UTC()
	j.AttemptedAt = sc.time(0)
	j.FinalizedAt = sc.time(1)
	j.LeaseExpiresAt = sc.time(2)
	j.CancelRequestedAt = sc.time(3)
	if sc.texts == nil {
		j.LeasedBy = sc.leasedBy.String
	}
	j.UniqueKey = sc.uniqueKey.String
	j.LastError = sc.lastError.String
	if sc.progress.Valid && sc.progressAttempt.Valid && int(sc.progressAttempt.Int32) == j.Attempt {
		job.progress = int(sc.progress.Int32)
		j.Progress = &job.progress
	}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	return j, nil
}

// scannedJob is one row read by a jobScanner, with the progress the row
// points to. Its times are not in it: the 96 bytes of four times would
// take it from 384 bytes, an allocation size of Go's, to 480, and the rows
// of a claim share two of them and have no other (jobScanner.shared).
type scannedJob struct {
	row      kilntype.JobRow
	progress int
}

// repeatedText is a scan target for a text column whose value repeats from
// row to row of a batch: a row whose value equals the previous row's
// shares its string, instead of a copy of its own (an allocation per row
// and column). The value is read from pgx's buffer (pgtype.BytesScanner)
// and written to *to.
type repeatedText struct {
	to       *string // where the row's value goes; "" for NULL if nullable
	last     string  // the previous row's value
	nullable bool
}

func (t *repeatedText) ScanBytes(v []byte) error {
	if v == nil && !t.nullable {
		return errors.New("cannot scan NULL into a string")
	}
	if string(v) != t.last {
		t.last = string(v)
	}
	*t.to = t.last
	return nil
}

// repeatedTexts are the columns of a claim's rows that repeat from row to
// row: the kind (one per claim, mostly), the queue and state (one per
// claim), and the lease holder (this process). One per batch of rows.
type repeatedTexts struct{ kind, queue, state, leasedBy repeatedText }

// newRepeatedTexts returns the repeatedTexts of a batch of rows.
func newRepeatedTexts() *repeatedTexts {
	return &repeatedTexts{leasedBy: repeatedText{nullable: true}}
}

// time returns the i-th of the times just scanned, in UTC, or nil for
// NULL: the previous row's value (sc.shared[i]) if equal, else a new one,
// which the next row may share.
func (sc *jobScanner) time(i int) *time.Time {
	t := sc.times[i]
	if !t.Valid {
		return nil
	}
	if at := sc.shared[i]; at != nil && at.Equal(t.Time) {
		return at
	}
	at := new(time.Time)
	*at = t.Time.UTC()
	sc.shared[i] = at
	return at
}

// scanJobs reads every row of rows with scanJob and closes rows. It takes
// Query's results as they are: err is returned as is.
func scanJobs(rows pgx.Rows, err error) ([]*kilntype.JobRow, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	jobs := []*kilntype.JobRow{}
	sc := new(jobScanner)
	for rows.Next() {
		j, err := sc.scan(rows)
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
