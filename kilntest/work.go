package kilntest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/internal/jobreport"
	"github.com/kilnjobs/kiln/internal/testhook"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// WorkOpts describe the job Work runs. Every field's zero value means the
// documented default.
type WorkOpts struct {
	// ID is the job's ID; default 1.
	ID int64
	// Queue is the job's queue; default kiln.QueueDefault.
	Queue string
	// Priority is the job's priority; default kiln.PriorityDefault.
	Priority int
	// Attempt is the number of the attempt being run, from 1; default 1.
	// Set it to MaxAttempts to see what the last attempt does on failure.
	Attempt int
	// MaxAttempts is the job's attempt count; default the worker's
	// MaxAttempts, else kiln.DefaultMaxAttempts.
	MaxAttempts int
	// Tags are the job's tags.
	Tags []string
	// Metadata is the job's metadata (job.MetadataValue reads it).
	Metadata map[string]string
	// Clock dates the attempt and its log lines; default the system clock.
	Clock kiln.Clock
	// JobTimeout bounds the attempt when the worker's Timeout returns 0, as
	// kiln.Config.JobTimeout does: default 1 minute; negative means none.
	JobTimeout time.Duration
	// RetryPolicy gives the retry time of a failed attempt when the
	// worker's Backoff returns 0: default kiln.DefaultRetryPolicy.
	RetryPolicy kiln.RetryPolicy
}

// WorkResult is what one attempt run by Work did, and what a client would
// record.
type WorkResult struct {
	// Job is the job as the worker saw it (State running, Attempt set).
	Job *kiln.JobRow
	// Err is what the worker's Work returned; for a panic, an error
	// holding "panic: " and the panic's value; for args that do not decode
	// into the worker's type, the decode error.
	Err error
	// State is the state a client would move the job to: completed;
	// retryable (a failure with attempts left) or discarded (none left);
	// cancelled (kiln.JobCancel); scheduled (kiln.JobSnooze).
	State kiln.JobState
	// ScheduledAt is when a retryable or snoozed job would run again.
	ScheduledAt time.Time
	// Attempt is the attempt's record, as its history would keep it:
	// Outcome, Error, and Trace for a panic.
	Attempt kiln.JobAttempt
	// Progress is the last progress the worker reported (Job.Progress),
	// or nil if none.
	Progress *int
	// Logs are the lines the worker logged (Job.Log), oldest first.
	Logs []string
}

// Work runs one attempt of a job with args and opts (nil: defaults) on
// worker, inline, in the calling goroutine, and returns what happened. It
// needs no store and no client: the job is not stored. The args go through
// JSON as they would in the store, so a field the worker cannot decode
// shows here. The worker gets a real *kiln.Job: its Progress and Log calls
// are captured in the result, its Timeout, Backoff and MaxAttempts are
// honoured, and a panic is recovered and recorded as a client records it.
// Work fails the test only if the args do not encode to JSON or worker
// cannot be registered for T (see kiln.AddWorkerSafely).
func Work[T kiln.JobArgs](ctx context.Context, tb testing.TB, worker kiln.Worker[T], args T, opts *WorkOpts) *WorkResult {
	tb.Helper()
	var o WorkOpts
	if opts != nil {
		o = *opts
	}
	workers := kiln.NewWorkers()
	if err := kiln.AddWorkerSafely(workers, worker); err != nil {
		tb.Fatalf("kilntest: Work: %v", err)
	}
	raw, err := json.Marshal(args)
	if err != nil {
		tb.Fatalf("kilntest: Work: encode args (%T): %v", args, err)
	}
	if o.ID == 0 {
		o.ID = 1
	}
	if o.Queue == "" {
		o.Queue = kiln.QueueDefault
	}
	if o.Priority == 0 {
		o.Priority = kiln.PriorityDefault
	}
	if o.Attempt == 0 {
		o.Attempt = 1
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = worker.MaxAttempts()
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = kiln.DefaultMaxAttempts
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.JobTimeout == 0 {
		o.JobTimeout = time.Minute
	}
	if o.RetryPolicy == nil {
		o.RetryPolicy = kiln.DefaultRetryPolicy{}
	}
	metadata := []byte("{}")
	if len(o.Metadata) > 0 {
		metadata, _ = json.Marshal(o.Metadata)
	}
	now := func() time.Time { return o.Clock.Now().UTC().Truncate(time.Microsecond) }
	started := now()
	const server = "kilntest"
	row := &kiln.JobRow{
		ID: o.ID, Kind: args.Kind(), Queue: o.Queue, Args: raw, ArgsBytes: len(raw),
		State: kiln.JobStateRunning, Priority: o.Priority, Attempt: o.Attempt, MaxAttempts: o.MaxAttempts,
		CreatedAt: started, ScheduledAt: started, AttemptedAt: &started, LeasedBy: server,
		Tags: o.Tags, Metadata: metadata,
	}
	seen := *row // the worker may change the row it is given
	reports := &memReports{}
	unit, _ := testhook.Unit(workers, row, &jobreport.Config{Store: reports, Now: now, Logger: slog.New(slog.DiscardHandler)})
	rec := &recordingUnit{WorkUnit: unit}
	params := jobexec.Run(ctx, &jobexec.Settings{
		ServerID: server, DefaultTimeout: o.JobTimeout, Backoff: o.RetryPolicy.Backoff, Now: now,
	}, row, rec)
	reports.mu.Lock()
	res := &WorkResult{
		Job: &seen, Err: rec.err, State: params.State, Attempt: params.Attempt,
		Progress: reports.progress, Logs: reports.lines,
	}
	reports.mu.Unlock()
	if !rec.worked {
		res.Err = errors.New(params.Attempt.Error) // args that did not decode
	} else if params.Attempt.Trace != "" {
		res.Err = errors.New(params.Attempt.Error) // a panic
	}
	if params.State == kiln.JobStateRetryable || params.State == kiln.JobStateScheduled {
		res.ScheduledAt = params.ScheduledAt
	}
	return res
}

// recordingUnit keeps what Work returned.
type recordingUnit struct {
	jobexec.WorkUnit
	worked bool
	err    error
}

func (u *recordingUnit) Work(ctx context.Context) error {
	u.worked = true
	u.err = u.WorkUnit.Work(ctx)
	return u.err
}

// memReports is a store.JobProgressStore in memory: it keeps one job's
// reports for Work.
type memReports struct {
	mu       sync.Mutex // guards progress and lines
	progress *int
	lines    []string
}

func (m *memReports) JobProgressSet(_ context.Context, p *store.JobProgressSetParams) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := p.Progress
	m.progress = &v
	return true, nil
}

func (m *memReports) JobLogAppend(_ context.Context, p *store.JobLogAppendParams) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range p.Lines {
		m.lines = append(m.lines, l.Message)
	}
	if len(m.lines) > p.Keep {
		m.lines = m.lines[len(m.lines)-p.Keep:]
	}
	return true, nil
}

func (m *memReports) JobLogList(context.Context, *store.JobLogListParams) ([]*kilntype.JobLogLine, error) {
	return nil, nil
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }
