// Package service gives Kiln's background parts one start/stop contract:
// Start returns once the goroutine runs, Stop blocks until it has exited, and
// stopping twice or without a start is harmless (River's baseservice and
// startstop, in Kiln's shape).
package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Runner owns one goroutine. The zero value is ready to use; a Runner is safe
// for concurrent use.
type Runner struct {
	mu     sync.Mutex // guards cancel and done
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs fn in a new goroutine with a context that Stop cancels. It
// returns false, and runs nothing, if the Runner is already running.
func (r *Runner) Start(ctx context.Context, fn func(ctx context.Context)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done != nil {
		return false
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	r.cancel, r.done = cancel, done
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return true
}

// Stop cancels the goroutine's context and waits until it has returned. It
// is a no-op when the Runner is not running.
func (r *Runner) Stop() {
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.cancel, r.done = nil, nil
	r.mu.Unlock()
	if done == nil {
		return
	}
	cancel()
	<-done
}

// Running reports whether the goroutine was started and not yet stopped.
func (r *Runner) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done != nil
}

// CallTimeout bounds one pass of a background loop (a claim, a maintenance
// statement, a registry refresh): a store call that hangs (a pool with no
// free connection, a slow query, a connection that no longer answers) fails
// after it, so that its loop reports the error and tries again, rather than
// stalling without a word. Poll applies it to each pass; the users of Every
// apply it, or a tighter bound (the lease renewal, the leader's term), to
// each of their calls with Bounded.
const CallTimeout = 30 * time.Second

// Every calls fn at once and then every interval until ctx is done. A call
// that runs long delays the next one; calls never overlap.
func Every(ctx context.Context, interval time.Duration, fn func(ctx context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		fn(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sleep waits for d or until ctx is done, and reports whether the full
// duration passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Backoff returns the wait before retry number n (from 1) of a failing
// background loop: 100 ms doubled each time, capped at max.
func Backoff(n int, max time.Duration) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// Poll runs pass at once, then again when wake receives, or after the wait
// that pass returns (at most interval; zero or negative means at once),
// until ctx is done. A pass that fails is retried after a backoff that grows
// from interval up to 10 s, and reported to onError with how many passes
// failed in a row and the wait before the next one. Each pass runs under a
// context that also ends after CallTimeout. It is the loop of the parts that
// sleep until there is work (producers, the recurring scheduler).
func Poll(ctx context.Context, wake <-chan struct{}, interval time.Duration,
	pass func(ctx context.Context) (time.Duration, error), onError func(err error, failures int, wait time.Duration)) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
		var (
			wait time.Duration
			err  error
		)
		Bounded(ctx, CallTimeout, func(ctx context.Context) { wait, err = pass(ctx) })
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			wait = max(interval, Backoff(failures, 10*time.Second))
			onError(err, failures, wait)
		} else {
			failures = 0
			wait = min(wait, interval)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(wait, 0))
	}
}

// Bounded runs fn under a context that ends with ctx or after d, whichever
// comes first (its Err is then context.DeadlineExceeded; see Stopping).
func Bounded(ctx context.Context, d time.Duration, fn func(ctx context.Context)) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	fn(ctx)
}

// BoundedCall runs fn under a context that ends with ctx or after d, as
// Bounded does, and returns fn's error. When fn failed because d ran out
// (and not because ctx is done), the error is a *TimeoutError naming d: a
// store call that accepted the request and never answered reads as such,
// not as a bare "context deadline exceeded".
func BoundedCall(ctx context.Context, d time.Duration, fn func(ctx context.Context) error) error {
	var err error
	Bounded(ctx, d, func(bctx context.Context) {
		err = fn(bctx)
		if err != nil && ctx.Err() == nil && errors.Is(bctx.Err(), context.DeadlineExceeded) {
			err = &TimeoutError{After: d, Err: err}
		}
	})
	return err
}

// TimeoutError is the error of a BoundedCall whose bound ran out: Err is
// the call's own error. It wraps context.DeadlineExceeded and Err.
type TimeoutError struct {
	After time.Duration
	Err   error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no answer from the store within %v: %v", e.After, e.Err)
}

// Unwrap returns context.DeadlineExceeded and Err.
func (e *TimeoutError) Unwrap() []error { return []error{context.DeadlineExceeded, e.Err} }

// Stopping reports whether ctx ended because its loop is stopping, rather
// than because a call's deadline passed: errors of a stopping loop are not
// worth logging, a call that timed out is.
func Stopping(ctx context.Context) bool { return errors.Is(ctx.Err(), context.Canceled) }

// StoreObserver, when set, is called around a store call of the engine:
// op names it ("claim", "finish"), queue is its queue or "". It returns the
// context to call under and a function to call with the number of jobs the
// call moved and its error, or nil when there is nothing to record.
type StoreObserver func(ctx context.Context, op, queue string) (context.Context, func(n int, err error))
