package kiln

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// JobListParams filters and pages JobList. The zero value lists the
// DefaultJobListLimit newest jobs of any state, kind and queue. Tag is
// served by an index in both stores. ArgsContains is not: JobList bounds
// its work by examining at most JobListScanWindow consecutive job IDs per
// call (see JobListResult). ArgsPreview cuts long args (see
// JobListArgsPreview).
type JobListParams struct {
	States []JobState // any of these; nil means all
	Kinds  []string   // any of these; nil means all
	Queues []string   // any of these; nil means all
	// Tag, if not empty, keeps only the jobs that have this tag (an exact,
	// case-sensitive match of one of their Tags). Stores index it.
	Tag string
	// ArgsContains, if not empty, keeps only the jobs whose args, as JSON
	// text, contain it: a case-sensitive substring match. No index serves
	// it, so every job of the listed range that passes the other filters is
	// read: bound the range with StopAt. The text is the store's: SQLite
	// keeps args as they were encoded at enqueue (encoding/json, compact),
	// PostgreSQL's jsonb prints them with a space after ':' and ',' and its
	// keys reordered, so search for values (an e-mail, an ID), not for JSON
	// punctuation.
	ArgsContains string
	// Cursor is the ID of the last job of the previous page; 0 starts at the
	// first page. Pages are ordered by ID, so they stay stable while jobs are
	// added (keyset pagination).
	Cursor int64
	// StopAt, if not 0, ends the listed range at this ID, included: newest
	// first pages hold only IDs >= StopAt, oldest first pages IDs <= StopAt.
	// With Cursor it bounds a page's work to a window of IDs.
	StopAt   int64
	OrderAsc bool // oldest first; default newest first
	Limit    int  // 1 to MaxJobListLimit; 0 means DefaultJobListLimit
	// ArgsPreview, if above 0, cuts long args: the store reads only the
	// first ArgsPreview characters of each job's args and their full
	// length, so that a page of jobs with megabytes of args costs what a
	// page of small jobs does. A job whose args' JSON text is longer than
	// ArgsPreview bytes comes with Args nil, ArgsTruncated set and
	// ArgsPreview holding its first ArgsPreview bytes or fewer (a
	// character is never cut in two); ArgsBytes is the full length either
	// way. 0 returns whole args.
	ArgsPreview int
	// CreatedFrom, if not zero, keeps the jobs created at or after it;
	// CreatedBefore, if not zero, those created before it. No index
	// serves them: they are checked on each job of the walk.
	CreatedFrom   time.Time
	CreatedBefore time.Time
}

// toStore returns p as the store's params (the same fields).
func (p *JobListParams) toStore() *store.JobListParams { return (*store.JobListParams)(p) }

// DefaultJobListLimit (100) is the page size of JobList when
// JobListParams.Limit is 0, and MaxJobListLimit (10,000) the largest
// allowed (larger values are cut to it).
const (
	DefaultJobListLimit = store.DefaultListLimit
	MaxJobListLimit     = store.MaxListLimit
)

// JobListArgsPreview is the ArgsPreview, in bytes, of Kiln's own job lists:
// the dashboard's Jobs page, GET /jobs of the HTTP API and kiln jobs list.
// A job whose args' JSON text is longer comes with the first
// JobListArgsPreview bytes of it in ArgsPreview, ArgsTruncated set, Args
// nil and the full length in ArgsBytes; the store reads only that much of
// the args, so that jobs with megabytes of args do not make a list slow.
// JobGet returns the whole args.
const JobListArgsPreview = 1024

// JobListScanWindow is how many consecutive job IDs one JobList call with
// ArgsContains examines at most, so that a search for rare text among
// millions of jobs costs each page a bounded read (about 100,000 rows:
// tens of milliseconds) instead of a scan of every job.
const JobListScanWindow = 100_000

// JobListResult is one page of jobs.
type JobListResult struct {
	Jobs []*JobRow // the page, in the order asked for
	// NextCursor is the Cursor that gets the next page, or 0 on the last.
	// With ArgsContains a page may hold fewer than Limit jobs, even none,
	// and still have a NextCursor: the search stopped at the end of its
	// window of JobListScanWindow IDs, and continues from there.
	NextCursor int64
}

// JobGet returns the job with the given ID, or an error wrapping
// ErrNotFound.
func (c *Client) JobGet(ctx context.Context, id int64) (*JobRow, error) {
	row, err := c.cfg.Store.JobGet(ctx, &store.JobGetParams{ID: id})
	if err != nil {
		return nil, fmt.Errorf("kiln: get job %d: %w", id, err)
	}
	c.reveal(row, 0)
	return row, nil
}

// checkListText checks the text filters of p as stored text is checked
// (see store.CheckText): no job can match text with NUL or invalid UTF-8,
// and PostgreSQL refuses to compare it.
func checkListText(p *JobListParams) error {
	for _, f := range []struct {
		field  string
		values []string
	}{{"kind", p.Kinds}, {"queue", p.Queues}, {"tag", []string{p.Tag}}, {"args_contains", []string{p.ArgsContains}}} {
		for _, v := range f.values {
			if err := store.CheckText(f.field, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// JobList returns one page of jobs matching params (nil: the newest 100).
// A filter holding NUL or invalid UTF-8 gives a *ValidationError.
// Pages are keyset-paginated by ID: pass NextCursor back as Cursor. With
// ArgsContains each call examines at most JobListScanWindow consecutive
// IDs after Cursor (and before StopAt, if set), so a page may be short.
func (c *Client) JobList(ctx context.Context, params *JobListParams) (*JobListResult, error) {
	p := JobListParams{}
	if params != nil {
		p = *params
	}
	if err := checkListText(&p); err != nil {
		return nil, fmt.Errorf("kiln: list jobs: %w", err)
	}
	if p.Limit <= 0 {
		p.Limit = DefaultJobListLimit
	}
	p.Limit = min(p.Limit, MaxJobListLimit)
	// Ask for one more row to know whether another page follows.
	p.Limit++
	last := true // the range listed reaches the last job of the order
	if p.ArgsContains != "" {
		var err error
		if last, err = c.scanWindow(ctx, &p); err != nil {
			return nil, fmt.Errorf("kiln: list jobs: %w", err)
		}
	}
	rows, err := c.cfg.Store.JobList(ctx, p.toStore())
	if err != nil {
		return nil, fmt.Errorf("kiln: list jobs: %w", err)
	}
	for _, row := range rows {
		c.reveal(row, p.ArgsPreview)
	}
	res := &JobListResult{Jobs: rows}
	switch {
	case len(rows) == p.Limit:
		res.Jobs = rows[:p.Limit-1]
		res.NextCursor = res.Jobs[len(res.Jobs)-1].ID
	case !last:
		res.NextCursor = p.StopAt
	}
	return res, nil
}

// scanWindow narrows p's range to the JobListScanWindow IDs after its
// Cursor, skipping the IDs below the oldest job and above the newest, and
// reports whether the narrowed range still reaches the last job of p's
// order (or p's own StopAt), so that no page follows it.
func (c *Client) scanWindow(ctx context.Context, p *JobListParams) (bool, error) {
	// Both ends of the primary key: two index seeks. Only the IDs are
	// used: the args are left unread, as much as a store can.
	oldest, err := c.cfg.Store.JobList(ctx, &store.JobListParams{OrderAsc: true, Limit: 1, ArgsPreview: 1})
	if err != nil {
		return false, err
	}
	newest, err := c.cfg.Store.JobList(ctx, &store.JobListParams{Limit: 1, ArgsPreview: 1})
	if err != nil || len(oldest) == 0 || len(newest) == 0 {
		return true, err
	}
	lo, hi := oldest[0].ID, newest[0].ID
	if p.OrderAsc {
		from := max(p.Cursor, lo-1) // lists IDs > from
		stop := from + JobListScanWindow
		if p.StopAt != 0 && p.StopAt <= stop {
			return true, nil
		}
		p.Cursor, p.StopAt = from, stop
		return stop >= hi, nil
	}
	from := p.Cursor // lists IDs < from
	if from == 0 || from > hi {
		from = hi + 1
	}
	stop := from - JobListScanWindow
	if p.StopAt != 0 && p.StopAt >= stop {
		return true, nil
	}
	p.Cursor, p.StopAt = from, stop
	return stop <= lo, nil
}

// JobAttempts returns the job's execution history, oldest attempt first:
// when each attempt started and ended, on which process, how it ended and
// its error (with a trimmed stack for panics).
func (c *Client) JobAttempts(ctx context.Context, id int64) ([]*JobAttempt, error) {
	attempts, err := c.cfg.Store.JobAttemptList(ctx, &store.JobAttemptListParams{JobID: id})
	if err != nil {
		return nil, fmt.Errorf("kiln: list attempts of job %d: %w", id, err)
	}
	return attempts, nil
}

// JobCountByState returns how many jobs are in each state.
func (c *Client) JobCountByState(ctx context.Context) (map[JobState]int, error) {
	counts, err := c.cfg.Store.JobCountByState(ctx)
	if err != nil {
		return nil, fmt.Errorf("kiln: count jobs: %w", err)
	}
	return counts, nil
}

// JobCancel cancels a job and returns it as it is after the request. A job
// that is not running yet (scheduled, available, retryable) is cancelled at
// once. A running job has its context cancelled: at once if it runs in this
// process or the store sends notifications (PostgreSQL), otherwise within
// Config.CancelPollInterval (500 ms by default) of the request, by the
// process that runs it; the returned row is then still
// running, with CancelRequestedAt set, and the job ends cancelled unless its
// worker completes it first. Cancelling a cancelled job does nothing. A
// completed or discarded job gives an error wrapping ErrJobState; an unknown
// ID, ErrNotFound.
func (c *Client) JobCancel(ctx context.Context, id int64) (*JobRow, error) {
	row, err := c.cfg.Store.JobCancel(c.auditTx(ctx, AuditJobCancel, auditJob), &store.JobCancelParams{ID: id, Now: c.now()})
	if err != nil {
		return nil, fmt.Errorf("kiln: cancel job %d: %w", id, err)
	}
	c.reveal(row, 0)
	if row.State == kilntype.JobStateRunning && row.LeasedBy == c.cfg.ID {
		c.cancelLocal(id, jobexec.ErrCancelRequested)
	}
	return row, nil
}

// JobRetry makes a job available to run now, whatever is left of its
// backoff or schedule: a discarded, cancelled, completed, retryable or
// scheduled job. A job out of attempts gets one more. A running job gives
// an error wrapping ErrJobRunning; an unknown ID, ErrNotFound.
func (c *Client) JobRetry(ctx context.Context, id int64) (*JobRow, error) {
	row, err := c.cfg.Store.JobRetry(c.auditTx(ctx, AuditJobRetry, auditJob), &store.JobRetryParams{ID: id, Now: c.now()})
	if err != nil {
		return nil, fmt.Errorf("kiln: retry job %d: %w", id, err)
	}
	c.reveal(row, 0)
	c.wake(row.Queue)
	return row, nil
}

// JobDelete deletes a job and its history and returns it as it was. A
// running job gives an error wrapping ErrJobRunning (cancel it first); an
// unknown ID, ErrNotFound.
func (c *Client) JobDelete(ctx context.Context, id int64) (*JobRow, error) {
	row, err := c.cfg.Store.JobDelete(c.auditTx(ctx, AuditJobDelete, auditJob), &store.JobDeleteParams{ID: id})
	if err != nil {
		return nil, fmt.Errorf("kiln: delete job %d: %w", id, err)
	}
	c.reveal(row, 0)
	return row, nil
}

// reveal gives a reader row's args: decrypted if they are encrypted and
// c's Encryptor has the key, else redacted (see JobRow.ArgsEncrypted).
// preview is the ArgsPreview row was read with.
func (c *Client) reveal(row *JobRow, preview int) {
	if row != nil {
		c.cfg.Encryptor.revealArgs(row, preview)
		c.cfg.Encryptor.revealOutput(row)
	}
}
