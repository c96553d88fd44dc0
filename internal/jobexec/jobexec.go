// Package jobexec runs one attempt of one job: it decodes the args, calls the
// worker under the job's timeout, recovers panics, and turns what happened
// into the store update that records the attempt.
package jobexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// WorkUnit is one job bound to its worker. The root package implements it
// with generics; this package only sees the untyped surface.
type WorkUnit interface {
	// Decode unmarshals the job's JSON args into the worker's args type.
	Decode() error
	// Work runs the worker.
	Work(ctx context.Context) error
	// Timeout is the worker's timeout for this job: 0 means the default,
	// negative means none.
	Timeout() time.Duration
	// Backoff is the worker's wait before the next attempt after this failed
	// one: 0 means the client's retry policy decides.
	Backoff() time.Duration
}

// OutputUnit is a WorkUnit whose job may record an output: Output returns
// it (valid JSON, or nil for none) once Work has returned. A successful
// attempt's finish carries it (store.JobFinishParams.Output); other
// outcomes drop it.
type OutputUnit interface {
	WorkUnit
	Output() json.RawMessage
}

// UnitFactory makes WorkUnits for the kinds a process has workers for.
type UnitFactory interface {
	// Unit returns the job's WorkUnit, or false if no worker handles its kind.
	Unit(row *kilntype.JobRow) (WorkUnit, bool)
}

// CancelError is returned by a worker to stop a job for good: it is
// cancelled, not retried (the error behind kiln.JobCancel).
type CancelError struct{ Err error }

func (e *CancelError) Error() string {
	if e.Err == nil {
		return "job cancelled"
	}
	return "job cancelled: " + e.Err.Error()
}
func (e *CancelError) Unwrap() error { return e.Err }

// SnoozeError is returned by a worker to run the job again after Duration
// without using an attempt (the error behind kiln.JobSnooze).
type SnoozeError struct{ Duration time.Duration }

func (e *SnoozeError) Error() string { return fmt.Sprintf("job snoozed for %s", e.Duration) }

// Causes given to a job context's cancel function, which tell how an attempt
// that returned an error while its context was done should be recorded.
// The root package exports them (kiln.ErrShutdown, ErrJobCancelRequested,
// ErrLeaseLost, ErrJobTimeout) for workers to test with context.Cause.
var (
	// ErrShutdown: the process is stopping; the job goes back to available.
	ErrShutdown = errors.New("kiln: process shutting down")
	// ErrCancelRequested: a user cancelled the job; it becomes cancelled.
	ErrCancelRequested = errors.New("kiln: job cancel requested")
	// ErrLeaseLost: another process took the job back; the result is void.
	ErrLeaseLost = errors.New("kiln: job lease lost")
	// ErrTimeout: the attempt ran past its timeout; a failed attempt.
	ErrTimeout = errors.New("kiln: job timed out")
	// ErrArgsKeyMissing: the job's args are encrypted with a key this
	// process does not hold. The attempt fails without counting: the job
	// becomes retryable (never discarded) for a process with the key.
	ErrArgsKeyMissing = errors.New("kiln: args are encrypted with a key this process does not hold")
)

// Settings are the process-wide defaults an attempt falls back to.
type Settings struct {
	ServerID       string
	DefaultTimeout time.Duration // negative: no timeout
	// Backoff is the client's retry policy: the wait after failed attempt n.
	Backoff func(attempt int) time.Duration
	Now     func() time.Time
	// StrictKinds fails jobs with no worker instead of leaving them alone.
	StrictKinds bool
	// Observe (optional) is called as an attempt starts: it returns the
	// context the attempt runs under and a function that Run calls with
	// the attempt's outcome and the worker's error, or nil (tracing and
	// metrics: internal/telemetry).
	Observe func(ctx context.Context, row *kilntype.JobRow) (context.Context, func(*store.JobFinishParams, error))
}

// Run runs one attempt of row with unit (nil when no worker handles the
// kind) under parent, a context whose cancel cause tells why it ended
// (ErrShutdown, ErrCancelRequested, ErrLeaseLost). It never panics and
// returns the store update that records the attempt. When parent is a
// *Context, the attempt's timeout is armed on it (its Cancel stops the
// timer) instead of a context.WithTimeoutCause derived for the attempt.
func Run(parent context.Context, s *Settings, row *kilntype.JobRow, unit WorkUnit) *store.JobFinishParams {
	p := new(store.JobFinishParams)
	RunInto(p, parent, s, row, unit)
	return p
}

// RunInto is Run writing the store update into p (overwritten whole), so
// that a caller that holds one per job, as the producer does in its record
// of a running job, spends no allocation on it.
func RunInto(p *store.JobFinishParams, parent context.Context, s *Settings, row *kilntype.JobRow, unit WorkUnit) {
	jc, _ := parent.(*Context)
	// A claimed row carries its claim's time; only a row without one asks
	// the clock.
	var started time.Time
	if row.AttemptedAt != nil {
		started = *row.AttemptedAt
	} else {
		started = s.Now()
	}
	var err error
	var trace string
	var observed func(*store.JobFinishParams, error)
	if s.Observe != nil {
		parent, observed = s.Observe(parent, row)
	}
	ctx := parent
	if unit == nil {
		err = fmt.Errorf("no worker for kind %q in this process", row.Kind)
	} else if err = unit.Decode(); err != nil {
		err = fmt.Errorf("decode args of kind %q: %w", row.Kind, err)
	} else {
		timeout := unit.Timeout()
		if timeout == 0 {
			timeout = s.DefaultTimeout
		}
		if timeout > 0 && jc != nil {
			jc.setTimeout(timeout, ErrTimeout) // parent (Observe's, maybe) derives from jc
		} else if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeoutCause(parent, timeout, ErrTimeout)
			defer cancel()
		}
		trace, err = call(ctx, unit)
	}
	finish(p, s, row, unit, started, ctx, err, trace)
	if observed != nil {
		observed(p, err)
	}
}

func call(ctx context.Context, unit WorkUnit) (trace string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			trace = trimStack(string(debug.Stack()))
		}
	}()
	return "", unit.Work(ctx)
}

func finish(p *store.JobFinishParams, s *Settings, row *kilntype.JobRow, unit WorkUnit, started time.Time, ctx context.Context, err error, trace string) {
	*p = store.JobFinishParams{
		ID:       row.ID,
		LeasedBy: row.LeasedBy,
		Now:      s.Now(),
		// The claim's time identifies it: a stale copy of this job (rescued,
		// then claimed again by this process) cannot finish the new claim.
		AttemptedAt: started,
		Attempt: kilntype.JobAttempt{
			JobID: row.ID, Attempt: row.Attempt, StartedAt: started,
			Server: s.ServerID, Trace: trace,
		},
	}
	p.Attempt.FinishedAt = &p.Now // p's own storage: no allocation of its own
	if err == nil {
		p.State, p.Attempt.Outcome = kilntype.JobStateCompleted, kilntype.AttemptSucceeded
		if ou, ok := unit.(OutputUnit); ok {
			p.Output = ou.Output()
		}
		return
	}
	failed(s, p, row, unit, ctx, err)
}

// failed sets the outcome of p, the attempt of row that returned err (not
// nil) with ctx, unit being row's worker (nil: none in this process). It
// is apart from finish so that a job that succeeds allocates none of its
// error targets.
func failed(s *Settings, p *store.JobFinishParams, row *kilntype.JobRow, unit WorkUnit, ctx context.Context, err error) {
	now := p.Now
	p.Attempt.Error = err.Error()
	cause := context.Cause(ctx)
	var cancelErr *CancelError
	var snoozeErr *SnoozeError
	switch {
	case errors.Is(cause, ErrShutdown):
		p.State, p.Attempt.Outcome, p.UndoAttempt = kilntype.JobStateAvailable, kilntype.AttemptInterrupted, true
		p.ScheduledAt = now
		p.Attempt.Error = "interrupted by shutdown: " + p.Attempt.Error
	case errors.Is(cause, ErrCancelRequested) || errors.As(err, &cancelErr):
		p.State, p.Attempt.Outcome = kilntype.JobStateCancelled, kilntype.AttemptCancelled
	case errors.As(err, &snoozeErr):
		p.State, p.Attempt.Outcome, p.UndoAttempt = kilntype.JobStateScheduled, kilntype.AttemptSnoozed, true
		p.ScheduledAt = now.Add(snoozeErr.Duration)
	case errors.Is(err, ErrArgsKeyMissing):
		// Not the job's fault, nor its worker's: keep every attempt for a
		// process that holds the key, and come back after a backoff.
		p.State, p.Attempt.Outcome, p.UndoAttempt = kilntype.JobStateRetryable, kilntype.AttemptFailed, true
		p.ScheduledAt = now.Add(max(s.Backoff(max(row.Attempt, 1)), 0))
	case unit == nil && !s.StrictKinds:
		// Claimed by mistake (the claim filters kinds): give it back untouched.
		p.State, p.Attempt.Outcome, p.UndoAttempt = kilntype.JobStateAvailable, kilntype.AttemptInterrupted, true
		p.ScheduledAt = now
	default:
		if errors.Is(cause, ErrTimeout) {
			p.Attempt.Error = fmt.Sprintf("%s (%v)", ErrTimeout, p.Attempt.Error)
		}
		p.Attempt.Outcome = kilntype.AttemptFailed
		if row.Attempt >= row.MaxAttempts {
			p.State = kilntype.JobStateDiscarded
			break
		}
		var wait time.Duration
		if unit != nil {
			wait = unit.Backoff()
		}
		if wait <= 0 {
			wait = max(s.Backoff(row.Attempt), 0)
		}
		p.State, p.ScheduledAt = kilntype.JobStateRetryable, now.Add(wait)
	}
}

// trimStack keeps the part of a panic's stack that belongs to the worker:
// it drops the frames of the runtime and of this package above the panic.
func trimStack(stack string) string {
	lines := strings.Split(stack, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") {
			// The frame after panic( is the one that panicked.
			lines = append(lines[:1], lines[i+2:]...)
			break
		}
	}
	out := strings.Join(lines, "\n")
	if i := strings.Index(out, "github.com/kilnjobs/kiln/internal/jobexec.call("); i > 0 {
		out = out[:i]
	}
	const maxLen = 4 << 10
	if len(out) > maxLen {
		out = out[:maxLen] + "\n…"
	}
	return strings.TrimSpace(out)
}
