package jobexec

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Context is the context one attempt of a job runs under, made for the
// engine's hot path. It behaves as context.WithCancelCause of its base
// with, once Run arms it, context.WithTimeoutCause's deadline: Done, Err
// (context.Canceled, or context.DeadlineExceeded once the timeout passed),
// Deadline, Value (the base's values), context.Cause (the cause given to
// Cancel, or Run's ErrTimeout after the timeout), context.AfterFunc, and
// contexts derived from it, which end with it with its error and cause.
//
// Unlike those two contexts, a Context costs no allocation until it is
// used: its done channel is made when Done is first called, and the
// context.Context that holds a cause for context.Cause only when it is
// cancelled with one. A producer keeps it inside its record of a running
// job, and its worker goroutine lends it a Timer (UseTimer), so that an
// attempt nobody cancels costs no allocation for its timeout (a timer of
// its own costs two: the timer and its function) where the standard
// library's pair costs nine (each context, its cancel function, the timer
// and its function, the parent's done channel and its map of children).
//
// The zero Context is not usable: call Init first, and do not copy it
// after. Its methods are safe for concurrent use.
type Context struct {
	base context.Context // never done: the values

	mu       sync.Mutex
	done     chan struct{}           // nil until Done or a cancel; closed once err is set
	err      error                   // nil until cancelled: context.Canceled or DeadlineExceeded
	deadline time.Time               // zero: none
	timer    *time.Timer             // the armed timeout, if any, without a shared Timer
	shared   *Timer                  // the Timer lent by UseTimer, if any
	after    map[*afterFunc]struct{} // registered by AfterFunc, run at the cancel

	// cause, set before err, holds the cause of a cancel with one: a
	// context.WithCancelCause of base, cancelled with it, which
	// context.Cause finds through Value (the cause is kept in the
	// standard library's unexported cancelCtx).
	cause atomic.Pointer[causeHolder]
}

type causeHolder struct{ ctx context.Context }

type afterFunc struct {
	once sync.Once
	f    func()
}

// closedDone is the done channel of a Context cancelled before its Done
// was called.
var closedDone = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// Init sets c up with the values of base, which must never be done (such
// as context.WithoutCancel's context); it panics otherwise.
func (c *Context) Init(base context.Context) {
	if base.Done() != nil {
		panic("jobexec: the base of a Context must never be done")
	}
	c.base = base
}

// Cancel ends c with context.Canceled, unless it has ended already. A nil
// cause leaves context.Cause returning context.Canceled, as the standard
// library's CancelCauseFunc does, and costs no allocation; it is how the
// producer releases a job's context once its worker has returned. The
// armed timer, if any, is stopped.
func (c *Context) Cancel(cause error) { c.cancel(context.Canceled, cause) }

// UseTimer makes c arm t for the timeout that Run arms, instead of a timer
// of its own; call it before Run. t is lent, not given: t serves one
// Context at a time (the attempts of one worker goroutine, which run one
// after another), and c's end disarms it.
func (c *Context) UseTimer(t *Timer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shared = t
}

// setTimeout arms c to end with context.DeadlineExceeded and cause after d
// (from now, on the real clock), unless it has ended already or is armed.
func (c *Context) setTimeout(d time.Duration, cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || !c.deadline.IsZero() {
		return
	}
	c.deadline = time.Now().Add(d)
	if c.shared != nil {
		c.shared.arm(c, c.deadline, d, cause)
		return
	}
	c.timer = time.AfterFunc(d, func() { c.cancel(context.DeadlineExceeded, cause) })
}

func (c *Context) cancel(err, cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if cause != nil {
		holder, cancel := context.WithCancelCause(c.base)
		cancel(cause)
		c.cause.Store(&causeHolder{ctx: holder})
	}
	c.err = err
	if c.done == nil {
		c.done = closedDone
	} else {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.shared != nil {
		c.shared.disarm(c)
	}
	after := c.after
	c.after = nil
	c.mu.Unlock()
	for a := range after {
		a.once.Do(func() { go a.f() })
	}
}

// Deadline returns when the timeout armed by Run ends c, and false when
// none is armed.
func (c *Context) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, !c.deadline.IsZero()
}

// Done returns a channel closed when c ends.
func (c *Context) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c.done
}

// Err returns nil until c ends, then context.Canceled, or
// context.DeadlineExceeded if its timeout ended it.
func (c *Context) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value returns the base's value for key (context.Cause reads the cause
// through it).
func (c *Context) Value(key any) any {
	if h := c.cause.Load(); h != nil {
		return h.ctx.Value(key)
	}
	return c.base.Value(key)
}

// AfterFunc arranges to call f in its own goroutine once c ends (at once
// if it has), as context.AfterFunc does, which calls it; contexts derived
// from c register through it. stop returns true if it stopped f from
// being run, false if f has started or stop was called before.
func (c *Context) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		a.once.Do(func() { go a.f() })
	} else {
		if c.after == nil {
			c.after = make(map[*afterFunc]struct{})
		}
		c.after[a] = struct{}{}
		c.mu.Unlock()
	}
	return func() bool {
		stopped := false
		a.once.Do(func() { stopped = true })
		if stopped {
			c.mu.Lock()
			delete(c.after, a)
			c.mu.Unlock()
		}
		return stopped
	}
}

// String names c, as the standard library's contexts name themselves.
func (c *Context) String() string { return "jobexec.Context" }

// Timer is the timer of the timeouts of attempts that run one after
// another, as one worker goroutine runs them: lent to each attempt's
// Context (UseTimer), it is armed for that Context's timeout, and
// disarmed when the Context ends, so that a timeout costs no allocation.
// It serves one Context at a time: arming it for a Context disarms it for
// the one before. The zero Timer is ready to use; do not copy it after
// first use. Its methods are safe for concurrent use.
//
// Arming and disarming move the underlying time.Timer only when they must:
// a Context whose deadline is at or after the pending run leaves it as it
// is (the run, finding the deadline ahead, re-arms for it), and a disarm
// leaves the run pending (it finds nothing to do). Attempts with the same
// timeout, one after the other, thus cost no timer operation each, where a
// Reset and a Stop each took the runtime's timer heap lock.
type Timer struct {
	mu    sync.Mutex  // guards every field
	t     *time.Timer // runs fire; made at the first arming
	ctx   *Context    // the Context it is armed for; nil: none
	at    time.Time   // ctx's deadline
	cause error       // ctx's timeout cause
	// runAt is when t's pending run is due; zero: none is pending (or a
	// run started, which re-arms t if it must).
	runAt time.Time
	moves int // arms of t (AfterFunc, Reset) by arm, counted for tests
}

// arm arms t to end c with context.DeadlineExceeded and cause at its
// deadline at, d from now. c.mu is held (the lock order is c.mu, then
// t.mu).
func (t *Timer) arm(c *Context, at time.Time, d time.Duration, cause error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ctx, t.at, t.cause = c, at, cause
	if !t.runAt.IsZero() && !t.runAt.After(at) {
		return // the pending run comes first, and re-arms t for at
	}
	t.runAt = at
	t.moves++
	if t.t == nil {
		t.t = time.AfterFunc(d, t.fire)
	} else {
		t.t.Reset(d)
	}
}

// disarm disarms t if it is armed for c; its pending run, if any, will
// find nothing to do. c.mu is held.
func (t *Timer) disarm(c *Context) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx == c {
		t.ctx = nil
	}
}

// Stop stops t's pending run, if any: for the goroutine that owns t, once
// it runs no more attempts. t may be armed again after.
func (t *Timer) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.t != nil {
		t.t.Stop()
	}
	t.ctx, t.runAt = nil, time.Time{}
}

// fire ends the Context t is armed for, once its deadline has passed. A
// run that finds t disarmed does nothing; one that finds the deadline
// still ahead (t was armed for a later Context than the one it was set
// for, or this is a late run of an earlier arming) re-arms t for it.
// time.Timer runs fire no earlier than d after an arming, so the run that
// is due at a deadline finds it passed.
func (t *Timer) fire() {
	t.mu.Lock()
	t.runAt = time.Time{}
	c, cause := t.ctx, t.cause
	if c == nil {
		t.mu.Unlock()
		return
	}
	if now := time.Now(); now.Before(t.at) {
		t.runAt = t.at
		t.t.Reset(t.at.Sub(now))
		t.mu.Unlock()
		return
	}
	t.ctx = nil
	t.mu.Unlock()
	c.cancel(context.DeadlineExceeded, cause)
}
