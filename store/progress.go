package store

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// JobProgressStore is the part of Store that keeps what running jobs report
// about themselves: a progress percentage on the job row
// (kilntype.JobRow.Progress) and log lines (kilntype.JobLogLine), so that
// any process sharing the database (the CLI, the dashboard) can read them
// while the job runs and after.
//
// A store must also fill JobRow.Progress
// wherever it returns job rows read from the table (JobGet, JobList), and
// delete a job's log lines with the job (JobDelete, JobDeleteFinished).
//
// Writes apply only while the job is running and leased by the writer under
// the claim of AttemptedAt, as JobFinishMany's do: a process whose lease was
// lost (the job was rescued and claimed again, possibly by itself) cannot
// write over the new attempt's progress or log lines.
type JobProgressStore interface {
	// JobProgressSet sets the progress of the job's current attempt to
	// params.Progress (0 to 100; other values give an error). It reports
	// false, and changes nothing, when the job is not running under
	// params' lease and claim (or does not exist).
	JobProgressSet(ctx context.Context, params *JobProgressSetParams) (bool, error)
	// JobLogAppend appends params.Lines to the job's log, numbered after its
	// previous lines and attributed to its current attempt, then deletes
	// the job's oldest lines beyond params.Keep. Of more than Keep lines
	// in one call, only the last Keep are stored (the others still use up
	// their Seq numbers). It reports false, and changes nothing, when the
	// job is not running under params' lease and claim (or does not exist).
	// Messages are stored as given: the caller bounds their length and
	// makes them valid UTF-8 without NUL bytes.
	JobLogAppend(ctx context.Context, params *JobLogAppendParams) (bool, error)
	// JobLogList returns log lines of job params.JobID whose Seq is above
	// params.AfterSeq, oldest first: the first params.Limit of them, or the
	// last ones with params.Tail. An unknown job gives an empty list, as
	// JobAttemptList does.
	JobLogList(ctx context.Context, params *JobLogListParams) ([]*kilntype.JobLogLine, error)
}

// JobReportLease names the claim a progress or log write belongs to: the
// write applies only while job ID is running, leased by LeasedBy, under the
// claim that set AttemptedAt (the claimed row's AttemptedAt). A zero
// AttemptedAt skips that last check, as in JobFinishParams.
type JobReportLease struct {
	ID          int64
	LeasedBy    string
	AttemptedAt time.Time
}

// JobProgressSetParams sets a running job's progress.
type JobProgressSetParams struct {
	JobReportLease
	Progress int // percent, 0 to 100
}

// JobLogAppendParams appends log lines to a running job.
type JobLogAppendParams struct {
	JobReportLease
	Lines []JobLogAppendLine
	// Keep is how many of the job's newest lines are kept; older ones are
	// deleted. It must be at least 1.
	Keep int
}

// JobLogAppendLine is one line to append: when it was logged, and its text.
type JobLogAppendLine struct {
	At      time.Time
	Message string
}

// JobLogListParams selects log lines of one job.
type JobLogListParams struct {
	JobID int64
	// AfterSeq skips the lines whose Seq is AfterSeq or less; 0 reads from
	// the first line kept.
	AfterSeq int64
	// Limit is how many lines at most: 0 or less means DefaultListLimit,
	// more than MaxListLimit is cut to it.
	Limit int
	// Tail returns the last Limit lines after AfterSeq instead of the
	// first ones (still oldest first): the end of the log.
	Tail bool
}

// Validate returns an error naming the fault if Progress is outside 0 to
// 100. Stores call it before writing.
func (p *JobProgressSetParams) Validate() error {
	if p.Progress < 0 || p.Progress > 100 {
		return fmt.Errorf("job %d: progress %d%% out of range 0 to 100", p.ID, p.Progress)
	}
	return nil
}

// Validate returns an error naming the fault if Keep is below 1. Stores
// call it before writing.
func (p *JobLogAppendParams) Validate() error {
	if p.Keep < 1 {
		return fmt.Errorf("job %d: keep %d log lines; want at least 1", p.ID, p.Keep)
	}
	return nil
}

// Kept returns the lines of p that a store keeps: the last Keep of them.
func (p *JobLogAppendParams) Kept() []JobLogAppendLine {
	return p.Lines[max(len(p.Lines)-p.Keep, 0):]
}
