package jobexec

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

type ctxKey struct{}

// newContext returns a Context over a base holding ctxKey's value "v".
func newContext() *Context {
	c := new(Context)
	c.Init(context.WithoutCancel(context.WithValue(context.Background(), ctxKey{}, "v")))
	return c
}

// The standard library's pair that a Context stands for: a
// context.WithCancelCause (cancel) with a context.WithTimeoutCause under
// it (timeout > 0).
func stdContext(timeout time.Duration) (context.Context, context.CancelCauseFunc, context.CancelFunc) {
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), ctxKey{}, "v"))
	if timeout <= 0 {
		return parent, cancel, func() {}
	}
	ctx, stop := context.WithTimeoutCause(parent, timeout, ErrTimeout)
	return ctx, cancel, stop
}

// ended is what a context and a context derived from it say once it ended.
type ended struct {
	err, cause, childErr, childCause error
	value                            any
}

func endedOf(t *testing.T, ctx, child context.Context) ended {
	t.Helper()
	testutil.Receive(t, ctx.Done(), "the context's end", nil)
	testutil.Receive(t, child.Done(), "the derived context's end", nil)
	return ended{ctx.Err(), context.Cause(ctx), child.Err(), context.Cause(child), ctx.Value(ctxKey{})}
}

// A Context ends as the standard library's pair does: cancelled with a
// cause, with none, by its timeout; before or after Done is first called;
// with a timer of its own or a shared Timer; a context derived from it
// ends with its error and cause.
func TestContextEndsAsTheStandardLibrarys(t *testing.T) {
	t.Run("own timer", func(t *testing.T) { testContextEnds(t, nil) })
	t.Run("shared timer", func(t *testing.T) { testContextEnds(t, new(Timer)) })
}

func testContextEnds(t *testing.T, timer *Timer) {
	cause := errors.New("why")
	for _, c := range []struct {
		name      string
		timeout   time.Duration
		cause     error
		doneFirst bool // Done called before the end
		cancel    bool // cancelled (else the timeout ends it)
	}{
		{name: "cancel with cause", cause: cause, cancel: true},
		{name: "cancel with cause, Done called first", cause: cause, cancel: true, doneFirst: true},
		{name: "cancel without cause", cancel: true},
		{name: "cancel before the timeout", timeout: time.Hour, cause: ErrShutdown, cancel: true},
		{name: "timeout", timeout: time.Millisecond},
		{name: "timeout, Done called first", timeout: time.Millisecond, doneFirst: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			std, stdCancel, stdStop := stdContext(c.timeout)
			defer stdStop()
			jc := newContext()
			if timer != nil {
				jc.UseTimer(timer)
			}
			armed := time.Now()
			if c.timeout > 0 {
				jc.setTimeout(c.timeout, ErrTimeout)
			}
			stdChild, stopStdChild := context.WithCancel(std)
			defer stopStdChild()
			child, stopChild := context.WithCancel(jc)
			defer stopChild()
			if c.doneFirst {
				_, _ = std.Done(), jc.Done()
			}
			// Before its end: a timeout cannot have ended it while less
			// than the timeout has passed since it was armed (read after
			// Err and Cause, so that a slow machine skips the check rather
			// than fail it).
			err, why := jc.Err(), context.Cause(jc)
			if (c.timeout == 0 || time.Since(armed) < c.timeout) && (err != nil || why != nil) {
				t.Fatalf("before its end: Err %v, Cause %v; want nil", err, why)
			}
			if c.cancel {
				stdCancel(c.cause)
				jc.Cancel(c.cause)
			}
			want, got := endedOf(t, std, stdChild), endedOf(t, jc, child)
			if got != want {
				t.Fatalf("ended %+v, want %+v (the standard library's)", got, want)
			}
			// A second end changes nothing.
			jc.Cancel(errors.New("later"))
			if again := endedOf(t, jc, child); again != want {
				t.Fatalf("after a second cancel %+v, want %+v", again, want)
			}
			// A context derived once it ended ends at once, alike.
			late, stopLate := context.WithCancel(jc)
			defer stopLate()
			testutil.Receive(t, late.Done(), "a late derived context's end", nil)
			if late.Err() != want.err || context.Cause(late) != want.cause {
				t.Fatalf("late derived context: Err %v, Cause %v; want %v, %v", late.Err(), context.Cause(late), want.err, want.cause)
			}
		})
	}
}

// Deadline is the armed timeout's end, and a derived context keeps the
// earlier deadline, as under context.WithTimeout.
func TestContextDeadline(t *testing.T) {
	jc := newContext()
	defer jc.Cancel(nil)
	if _, ok := jc.Deadline(); ok {
		t.Fatal("Deadline set before a timeout is armed")
	}
	start := time.Now()
	jc.setTimeout(time.Hour, ErrTimeout)
	jc.setTimeout(time.Nanosecond, ErrTimeout) // armed once per attempt: ignored
	d, ok := jc.Deadline()
	if !ok || d.Before(start.Add(time.Hour)) || d.After(time.Now().Add(time.Hour)) {
		t.Fatalf("Deadline %v, %v; want an hour from the arming", d.Sub(start), ok)
	}
	child, stop := context.WithTimeout(jc, 2*time.Hour)
	defer stop()
	if cd, _ := child.Deadline(); !cd.Equal(d) {
		t.Fatalf("derived deadline %v, want the parent's %v", cd, d)
	}
	if jc.Err() != nil {
		t.Fatalf("Err %v before the deadline", jc.Err())
	}
	jc.Cancel(nil)
	jc.setTimeout(time.Nanosecond, ErrTimeout) // ended: ignored
	if jc.Err() != context.Canceled {
		t.Fatalf("Err %v, want Canceled", jc.Err())
	}
}

// context.AfterFunc runs its function once the Context ends, in its own
// goroutine; stop before the end prevents it; on an ended Context it runs
// at once.
func TestContextAfterFunc(t *testing.T) {
	jc := newContext()
	ran := make(chan string, 3)
	context.AfterFunc(jc, func() { ran <- "first" })
	stopSecond := context.AfterFunc(jc, func() { ran <- "stopped" })
	if !stopSecond() {
		t.Fatal("stop before the end returned false")
	}
	if stopSecond() {
		t.Fatal("a second stop returned true")
	}
	jc.Cancel(ErrCancelRequested)
	if got := testutil.Receive(t, ran, "the first function", nil); got != "first" {
		t.Fatalf("ran %q, want first", got)
	}
	stopLate := context.AfterFunc(jc, func() { ran <- "late" })
	if got := testutil.Receive(t, ran, "the late function", nil); got != "late" {
		t.Fatalf("ran %q, want late", got)
	}
	if stopLate() {
		t.Fatal("stop after the function ran returned true")
	}
	select {
	case got := <-ran:
		t.Fatalf("%q ran too", got)
	default:
	}
}

// A Context that nobody cancels with a cause and whose Done nobody calls
// costs no allocation; Init refuses a base that can end.
func TestContextCostsNothingUnused(t *testing.T) {
	base := context.WithoutCancel(context.Background())
	var jc Context
	if n := testing.AllocsPerRun(100, func() {
		jc = Context{}
		jc.Init(base)
		_ = jc.Err()
		jc.Cancel(nil)
	}); n != 0 {
		t.Fatalf("%v allocations per unused Context, want 0", n)
	}
	if jc.String() == "" {
		t.Fatal("no name")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Init accepted a base that can end")
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	new(Context).Init(ctx)
}

// A Timer serves the Contexts lent it one after another: a Context's end
// disarms it, a late run of its function (one that the Stop of an earlier
// arming came too late to prevent) leaves the Context armed since alone,
// and each Context still ends at its own deadline, not before.
func TestTimerServesOneContextAtATime(t *testing.T) {
	timer := new(Timer)
	first := newContext()
	first.UseTimer(timer)
	first.setTimeout(time.Hour, ErrTimeout)
	first.Cancel(nil)

	second := newContext()
	second.UseTimer(timer)
	second.setTimeout(time.Hour, ErrTimeout)
	timer.fire() // the first's late run
	if second.Err() != nil {
		t.Fatalf("a late run of the timer ended the next Context: %v", second.Err())
	}
	second.Cancel(ErrShutdown)
	if context.Cause(second) != ErrShutdown {
		t.Fatalf("Cause %v, want ErrShutdown", context.Cause(second))
	}

	third := newContext()
	third.UseTimer(timer)
	third.setTimeout(20*time.Millisecond, ErrTimeout)
	deadline, _ := third.Deadline()
	testutil.Receive(t, third.Done(), "the third Context's timeout", nil)
	if ended := time.Now(); ended.Before(deadline) {
		t.Fatalf("ended %v before its deadline", deadline.Sub(ended))
	}
	if third.Err() != context.DeadlineExceeded || context.Cause(third) != ErrTimeout {
		t.Fatalf("Err %v, Cause %v; want DeadlineExceeded, ErrTimeout", third.Err(), context.Cause(third))
	}
	// Its Timer was disarmed by the timeout: a fourth Context is armed
	// afresh.
	fourth := newContext()
	fourth.UseTimer(timer)
	fourth.setTimeout(time.Millisecond, ErrTimeout)
	testutil.Receive(t, fourth.Done(), "the fourth Context's timeout", nil)
	if context.Cause(fourth) != ErrTimeout {
		t.Fatalf("Cause %v, want ErrTimeout", context.Cause(fourth))
	}
}

// Attempts with the same timeout, one after the other, leave the shared
// Timer's pending run as it is: the first arms it, the others neither
// move nor stop it (each a heap operation under the runtime's timer lock),
// and a Context armed for an earlier deadline than the pending run moves
// it.
func TestSharedTimerMovesOnlyForAnEarlierDeadline(t *testing.T) {
	timer := new(Timer)
	for range 100 {
		c := newContext()
		c.UseTimer(timer)
		c.setTimeout(time.Hour, ErrTimeout)
		c.Cancel(nil)
	}
	if timer.moves != 1 {
		t.Fatalf("the timer was armed %d times for 100 attempts with a timeout of an hour, want once", timer.moves)
	}
	c := newContext()
	c.UseTimer(timer)
	c.setTimeout(time.Millisecond, ErrTimeout)
	if timer.moves != 2 {
		t.Fatalf("the timer was armed %d times, want twice: a Context due before the pending run moves it", timer.moves)
	}
	testutil.Receive(t, c.Done(), "the Context's timeout", nil)
	if context.Cause(c) != ErrTimeout {
		t.Fatalf("Cause %v, want ErrTimeout", context.Cause(c))
	}
	timer.Stop()
}

// With a shared Timer, an attempt's timeout that nobody cancels with a
// cause costs no allocation (a timer of its own costs two: the timer and
// its function).
func TestSharedTimerCostsNothing(t *testing.T) {
	base := context.WithoutCancel(context.Background())
	timer := new(Timer)
	var jc Context
	if n := testing.AllocsPerRun(100, func() {
		jc = Context{}
		jc.Init(base)
		jc.UseTimer(timer)
		jc.setTimeout(time.Hour, ErrTimeout)
		jc.Cancel(nil)
	}); n != 0 {
		t.Fatalf("%v allocations per armed Context with a shared Timer, want 0", n)
	}
}

// Run arms the timeout on a *Context it is given, under Observe's
// context too: the worker sees the deadline, and a worker that outlives
// it fails with ErrTimeout as its cause.
func TestRunArmsTheTimeoutOnAContext(t *testing.T) {
	s := settings()
	s.DefaultTimeout = time.Millisecond
	s.Observe = func(ctx context.Context, _ *kilntype.JobRow) (context.Context, func(*store.JobFinishParams, error)) {
		return context.WithValue(ctx, ctxKey{}, "observed"), nil
	}
	jc := newContext()
	defer jc.Cancel(nil)
	p := Run(jc, s, row(), &unit{work: func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("no deadline")
		}
		<-ctx.Done()
		return context.Cause(ctx)
	}})
	check(t, p, 2, want{state: "retryable", outcome: "failed", scheduledAt: now.Add(2 * time.Minute), errContains: "timed out"})
	if jc.Err() != context.DeadlineExceeded || context.Cause(jc) != ErrTimeout {
		t.Fatalf("Err %v, Cause %v; want DeadlineExceeded, ErrTimeout", jc.Err(), context.Cause(jc))
	}
}

// BenchmarkSharedTimerAttempt is an attempt's Context with a timeout (a
// minute, the default JobTimeout) on a shared Timer, armed and released as
// a worker goroutine does for each job.
func BenchmarkSharedTimerAttempt(b *testing.B) {
	base := context.WithoutCancel(context.Background())
	timer := new(Timer)
	defer timer.Stop()
	var jc Context
	for b.Loop() {
		jc = Context{}
		jc.Init(base)
		jc.UseTimer(timer)
		jc.setTimeout(time.Minute, ErrTimeout)
		jc.Cancel(nil)
	}
}
