package jobexec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// unit is a WorkUnit whose every answer the test sets.
type unit struct {
	decodeErr error
	work      func(ctx context.Context) error
	timeout   time.Duration
	backoff   time.Duration
}

func (u *unit) Decode() error                  { return u.decodeErr }
func (u *unit) Work(ctx context.Context) error { return u.work(ctx) }
func (u *unit) Timeout() time.Duration         { return u.timeout }
func (u *unit) Backoff() time.Duration         { return u.backoff }

func returns(err error) *unit {
	return &unit{work: func(context.Context) error { return err }}
}

var (
	claimedAt = time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)
	now       = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
)

func settings() *Settings {
	return &Settings{
		ServerID: "srv", DefaultTimeout: -1,
		Backoff: func(attempt int) time.Duration { return time.Duration(attempt) * time.Minute },
		Now:     func() time.Time { return now },
	}
}

func row() *kilntype.JobRow {
	at := claimedAt
	return &kilntype.JobRow{ID: 42, Kind: "email", Attempt: 2, MaxAttempts: 5, LeasedBy: "srv", AttemptedAt: &at}
}

// cancelled returns a context cancelled with cause.
func cancelled(cause error) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	return ctx
}

// want is what the store update of an attempt should say.
type want struct {
	state       kilntype.JobState
	outcome     kilntype.AttemptOutcome
	undo        bool
	scheduledAt time.Time // zero: not checked to be anything but zero
	errContains string    // "" : no error
}

func check(t *testing.T, p *store.JobFinishParams, attempt int, w want) {
	t.Helper()
	if p.State != w.state || p.Attempt.Outcome != w.outcome || p.UndoAttempt != w.undo {
		t.Errorf("state, outcome, undo = %s, %s, %v; want %s, %s, %v",
			p.State, p.Attempt.Outcome, p.UndoAttempt, w.state, w.outcome, w.undo)
	}
	if !p.ScheduledAt.Equal(w.scheduledAt) {
		t.Errorf("ScheduledAt = %v, want %v", p.ScheduledAt, w.scheduledAt)
	}
	if w.errContains == "" && p.Attempt.Error != "" {
		t.Errorf("attempt error = %q, want none", p.Attempt.Error)
	}
	if !strings.Contains(p.Attempt.Error, w.errContains) {
		t.Errorf("attempt error = %q, want it to contain %q", p.Attempt.Error, w.errContains)
	}
	// What every outcome records alike.
	if p.ID != 42 || p.LeasedBy != "srv" || !p.Now.Equal(now) || !p.AttemptedAt.Equal(claimedAt) {
		t.Errorf("ID, LeasedBy, Now, AttemptedAt = %d, %q, %v, %v", p.ID, p.LeasedBy, p.Now, p.AttemptedAt)
	}
	a := p.Attempt
	if a.JobID != 42 || a.Attempt != attempt || !a.StartedAt.Equal(claimedAt) || a.FinishedAt == nil ||
		!a.FinishedAt.Equal(now) || a.Server != "srv" {
		t.Errorf("attempt = %+v", a)
	}
}

// TestOutcomes maps every way an attempt can end to its store update.
func TestOutcomes(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name   string
		ctx    context.Context
		row    func(*kilntype.JobRow)
		unit   WorkUnit
		strict bool
		want   want
	}{
		{name: "success", unit: returns(nil),
			want: want{state: kilntype.JobStateCompleted, outcome: kilntype.AttemptSucceeded}},
		{name: "success despite shutdown", ctx: cancelled(ErrShutdown), unit: returns(nil),
			want: want{state: kilntype.JobStateCompleted, outcome: kilntype.AttemptSucceeded}},
		{name: "error retried after the policy's backoff", unit: returns(boom),
			want: want{state: kilntype.JobStateRetryable, outcome: kilntype.AttemptFailed,
				scheduledAt: now.Add(2 * time.Minute), errContains: "boom"}},
		{name: "error retried after the worker's backoff",
			unit: &unit{work: func(context.Context) error { return boom }, backoff: time.Second},
			want: want{state: kilntype.JobStateRetryable, outcome: kilntype.AttemptFailed,
				scheduledAt: now.Add(time.Second), errContains: "boom"}},
		{name: "error on the last attempt", row: func(r *kilntype.JobRow) { r.Attempt = 5 }, unit: returns(boom),
			want: want{state: kilntype.JobStateDiscarded, outcome: kilntype.AttemptFailed, errContains: "boom"}},
		{name: "error past the last attempt", row: func(r *kilntype.JobRow) { r.Attempt = 6 }, unit: returns(boom),
			want: want{state: kilntype.JobStateDiscarded, outcome: kilntype.AttemptFailed, errContains: "boom"}},
		{name: "error at shutdown", ctx: cancelled(ErrShutdown), unit: returns(context.Canceled),
			want: want{state: kilntype.JobStateAvailable, outcome: kilntype.AttemptInterrupted, undo: true,
				scheduledAt: now, errContains: "interrupted by shutdown: context canceled"}},
		{name: "error after a cancel request", ctx: cancelled(ErrCancelRequested), unit: returns(context.Canceled),
			want: want{state: kilntype.JobStateCancelled, outcome: kilntype.AttemptCancelled, errContains: "context canceled"}},
		{name: "worker cancels", unit: returns(fmt.Errorf("wrapped: %w", &CancelError{Err: boom})),
			want: want{state: kilntype.JobStateCancelled, outcome: kilntype.AttemptCancelled, errContains: "job cancelled: boom"}},
		{name: "worker cancels on the last attempt", row: func(r *kilntype.JobRow) { r.Attempt = 5 },
			unit: returns(&CancelError{}),
			want: want{state: kilntype.JobStateCancelled, outcome: kilntype.AttemptCancelled, errContains: "job cancelled"}},
		{name: "worker snoozes", unit: returns(&SnoozeError{Duration: time.Hour}),
			want: want{state: kilntype.JobStateScheduled, outcome: kilntype.AttemptSnoozed, undo: true,
				scheduledAt: now.Add(time.Hour), errContains: "job snoozed for 1h0m0s"}},
		{name: "worker snoozes on the last attempt", row: func(r *kilntype.JobRow) { r.Attempt = 5 },
			unit: returns(&SnoozeError{Duration: time.Minute}),
			want: want{state: kilntype.JobStateScheduled, outcome: kilntype.AttemptSnoozed, undo: true,
				scheduledAt: now.Add(time.Minute), errContains: "snoozed"}},
		{name: "error after the lease was lost", ctx: cancelled(ErrLeaseLost), unit: returns(context.Canceled),
			want: want{state: kilntype.JobStateRetryable, outcome: kilntype.AttemptFailed,
				scheduledAt: now.Add(2 * time.Minute), errContains: "context canceled"}},
		{name: "no worker", unit: nil,
			want: want{state: kilntype.JobStateAvailable, outcome: kilntype.AttemptInterrupted, undo: true,
				scheduledAt: now, errContains: `no worker for kind "email"`}},
		{name: "no worker, strict kinds", unit: nil, strict: true,
			want: want{state: kilntype.JobStateRetryable, outcome: kilntype.AttemptFailed,
				scheduledAt: now.Add(2 * time.Minute), errContains: `no worker for kind "email"`}},
		{name: "args that do not decode", unit: &unit{decodeErr: boom, work: func(context.Context) error {
			t.Error("Work called after a decode error")
			return nil
		}}, want: want{state: kilntype.JobStateRetryable, outcome: kilntype.AttemptFailed,
			scheduledAt: now.Add(2 * time.Minute), errContains: `decode args of kind "email": boom`}},
		{name: "panic", unit: &unit{work: func(context.Context) error { panic("kaboom") }},
			want: want{state: kilntype.JobStateRetryable, outcome: kilntype.AttemptFailed,
				scheduledAt: now.Add(2 * time.Minute), errContains: "panic: kaboom"}},
		{name: "panic with an error", unit: &unit{work: func(context.Context) error { panic(boom) }},
			want: want{state: kilntype.JobStateRetryable, outcome: kilntype.AttemptFailed,
				scheduledAt: now.Add(2 * time.Minute), errContains: "panic: boom"}},
		{name: "panic on the last attempt", row: func(r *kilntype.JobRow) { r.Attempt = 5 },
			unit: &unit{work: func(context.Context) error { panic("kaboom") }},
			want: want{state: kilntype.JobStateDiscarded, outcome: kilntype.AttemptFailed, errContains: "panic: kaboom"}},
		{name: "panic at shutdown", ctx: cancelled(ErrShutdown),
			unit: &unit{work: func(context.Context) error { panic("kaboom") }},
			want: want{state: kilntype.JobStateAvailable, outcome: kilntype.AttemptInterrupted, undo: true,
				scheduledAt: now, errContains: "interrupted by shutdown: panic: kaboom"}},
		{name: "panic after a cancel request", ctx: cancelled(ErrCancelRequested),
			unit: &unit{work: func(context.Context) error { panic("kaboom") }},
			want: want{state: kilntype.JobStateCancelled, outcome: kilntype.AttemptCancelled, errContains: "panic: kaboom"}},
		{name: "timeout", unit: &unit{timeout: time.Nanosecond, work: func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}}, want: want{state: kilntype.JobStateRetryable, outcome: kilntype.AttemptFailed,
			scheduledAt: now.Add(2 * time.Minute), errContains: "kiln: job timed out (context deadline exceeded)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := c.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			r := row()
			if c.row != nil {
				c.row(r)
			}
			s := settings()
			s.StrictKinds = c.strict
			w := c.want
			p := Run(ctx, s, r, c.unit)
			check(t, p, r.Attempt, w)
			if panics := strings.HasPrefix(w.errContains, "panic") || strings.Contains(w.errContains, ": panic"); panics != (p.Attempt.Trace != "") {
				t.Errorf("trace = %q; a trace is wanted only for panics", p.Attempt.Trace)
			}
		})
	}
}

// The trace of a panic starts at the worker's frame: the runtime's and this
// package's frames above it are cut.
func TestPanicTrace(t *testing.T) {
	p := Run(context.Background(), settings(), row(), &unit{work: func(context.Context) error { return panicky() }})
	tr := p.Attempt.Trace
	if !strings.HasPrefix(tr, "goroutine ") {
		t.Errorf("trace does not start with the goroutine line:\n%s", tr)
	}
	if !strings.Contains(tr, "jobexec.panicky(") {
		t.Errorf("trace lacks the panicking frame:\n%s", tr)
	}
	for _, cut := range []string{"panic(", "runtime/debug.Stack", "jobexec.call(", "jobexec.Run("} {
		if strings.Contains(tr, cut) {
			t.Errorf("trace keeps %q:\n%s", cut, tr)
		}
	}
}

func panicky() error { panic("deep") }

func TestTrimStackCapsLength(t *testing.T) {
	long := "goroutine 1 [running]:\n" + strings.Repeat("frame\n", 2000)
	got := trimStack(long)
	if len(got) > 4<<10+len("\n…") || !strings.HasSuffix(got, "…") {
		t.Fatalf("trimmed stack of %d bytes, ending %q; want at most 4 KiB and an ellipsis", len(got), got[len(got)-10:])
	}
	// A stack without a panic frame is kept as is.
	if got := trimStack("goroutine 1 [running]:\nmain.f()\n"); got != "goroutine 1 [running]:\nmain.f()" {
		t.Fatalf("trimStack = %q", got)
	}
}

// The worker's timeout wins over the default; 0 takes the default; a
// negative one means none.
func TestTimeouts(t *testing.T) {
	for _, c := range []struct {
		name       string
		unit, dflt time.Duration
		want       time.Duration // 0: no deadline
	}{
		{name: "worker's", unit: time.Hour, dflt: time.Minute, want: time.Hour},
		{name: "default", unit: 0, dflt: time.Minute, want: time.Minute},
		{name: "worker's none", unit: -1, dflt: time.Minute},
		{name: "no default", unit: 0, dflt: -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := settings()
			s.DefaultTimeout = c.dflt
			var deadline time.Time
			var has bool
			start := time.Now()
			Run(context.Background(), s, row(), &unit{timeout: c.unit, work: func(ctx context.Context) error {
				deadline, has = ctx.Deadline()
				return nil
			}})
			end := time.Now()
			if has != (c.want > 0) {
				t.Fatalf("deadline set = %v, want %v", has, c.want > 0)
			}
			if has && (deadline.Before(start.Add(c.want)) || deadline.After(end.Add(c.want))) {
				t.Fatalf("deadline %v after the start of Run, want %v", deadline.Sub(start), c.want)
			}
		})
	}
}

// Without AttemptedAt (a row not from a claim) the attempt starts at Now.
func TestStartWithoutAttemptedAt(t *testing.T) {
	r := row()
	r.AttemptedAt = nil
	p := Run(context.Background(), settings(), r, returns(nil))
	if !p.AttemptedAt.Equal(now) || !p.Attempt.StartedAt.Equal(now) {
		t.Fatalf("AttemptedAt, StartedAt = %v, %v; want Now", p.AttemptedAt, p.Attempt.StartedAt)
	}
}

// A claimed row's attempt starts at its claim's time (AttemptedAt), and
// the clock is read once, for its end: the engine's clock (the client's,
// truncated to microseconds in UTC) is read per job, so a read the attempt
// does not use was a cost per job.
func TestClaimedRowReadsTheClockOnce(t *testing.T) {
	s := settings()
	reads := 0
	s.Now = func() time.Time { reads++; return now }
	p := Run(context.Background(), s, row(), returns(nil))
	if reads != 1 || !p.Attempt.StartedAt.Equal(claimedAt) || !p.Now.Equal(now) {
		t.Fatalf("clock read %d times, StartedAt %v, Now %v; want once, %v, %v", reads, p.Attempt.StartedAt, p.Now, claimedAt, now)
	}
}

// A negative backoff from the retry policy retries at once.
func TestNegativePolicyBackoff(t *testing.T) {
	s := settings()
	s.Backoff = func(int) time.Duration { return -time.Hour }
	p := Run(context.Background(), s, row(), returns(errors.New("x")))
	if !p.ScheduledAt.Equal(now) {
		t.Fatalf("ScheduledAt = %v, want Now", p.ScheduledAt)
	}
}

func TestErrorTexts(t *testing.T) {
	boom := errors.New("boom")
	if got := (&CancelError{}).Error(); got != "job cancelled" {
		t.Errorf("CancelError{}.Error() = %q", got)
	}
	ce := &CancelError{Err: boom}
	if got := ce.Error(); got != "job cancelled: boom" {
		t.Errorf("CancelError{boom}.Error() = %q", got)
	}
	if !errors.Is(ce, boom) {
		t.Error("CancelError does not unwrap to its Err")
	}
	if got := (&SnoozeError{Duration: 90 * time.Second}).Error(); got != "job snoozed for 1m30s" {
		t.Errorf("SnoozeError.Error() = %q", got)
	}
}
