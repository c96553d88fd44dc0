// Package testutil holds what Kiln's own tests share to wait without
// sleeping blindly: [Eventually] polls a condition until it holds, and
// [Receive] waits for a matching value on a channel. Both stop at a deadline
// and fail the test naming what they waited for.
//
// The deadline only bounds a hung test; it measures nothing. It is generous
// because the tests run under -race on loaded machines (a job of 200 ms
// stayed running over 15 s at a load average of 30). A test that asserts
// that something does not happen uses an injected clock or waits for an
// event that comes after it, never a fixed sleep.
//
// It imports only the standard library, so the tests of every package,
// engine packages included, can use it without an import cycle.
package testutil

import (
	"errors"
	"testing"
	"time"
)

// Timeout is how long [Eventually] and [Receive] wait before they fail the
// test. Three minutes: at a load average of 34–43 on the 2-core
// development machine, TestJobReportsOfStaleCopyRefused's wait for the
// stale copy's reports to be refused outlasted one (2026-12-06).
const Timeout = 3 * time.Minute

// Interval is how often [Eventually] calls its condition.
const Interval = 5 * time.Millisecond

// Poll waits like [Eventually] with its own timeout and interval. A zero
// Timeout means [Timeout]; a zero Interval means [Interval]. A test polls
// less often than every 5 ms where each call is costly (a browser, a
// subprocess).
type Poll struct {
	Timeout  time.Duration
	Interval time.Duration
}

// Eventually calls cond until it returns true, every [Interval], and fails
// the test with t.Fatalf ("timed out after 1m0s waiting for <what>") if it
// has not done so within [Timeout]. cond runs on the calling goroutine, so
// it may call t.Fatal itself. It returns as soon as cond returns true; cond
// is called at least once.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Poll{}.Eventually(t, what, cond)
}

// EventuallyNil calls check until it returns nil, like [Eventually], and on
// timeout fails the test with the last error check returned, so that the
// failure says where things stood ("job 3 is running, want completed").
func EventuallyNil(t testing.TB, what string, check func() error) {
	t.Helper()
	Poll{}.EventuallyNil(t, what, check)
}

// Eventually is [Eventually] with p's timeout and interval.
func (p Poll) Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	p.EventuallyNil(t, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

// EventuallyNil is [EventuallyNil] with p's timeout and interval.
func (p Poll) EventuallyNil(t testing.TB, what string, check func() error) {
	t.Helper()
	timeout, interval := p.Timeout, p.Interval
	if timeout <= 0 {
		timeout = Timeout
	}
	if interval <= 0 {
		interval = Interval
	}
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(interval) // polling with a deadline, not synchronisation
	}
}

// Receive returns the first value from ch for which match returns true (a
// nil match takes any value), dropping the values before it, and fails the
// test if none arrives within [Timeout]. A closed channel is a signal: with
// a nil match Receive returns its zero value; with a match it fails the
// test, as no value can come any more.
func Receive[T any](t testing.TB, ch <-chan T, what string, match func(T) bool) T {
	t.Helper()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				if match == nil {
					return v
				}
				t.Fatalf("channel closed while waiting for %s", what)
			}
			if match == nil || match(v) {
				return v
			}
		case <-timer.C:
			t.Fatalf("timed out after %v waiting for %s", Timeout, what)
		}
	}
}

// errNotYet is the error of a bool condition that is still false.
var errNotYet = errors.New("the condition is still false")
