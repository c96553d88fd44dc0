package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait is the bound of every wait here: it only ends a hung test.
const wait = 30 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("no %s within %s", what, wait)
		panic("unreachable")
	}
}

func TestRunnerStartStop(t *testing.T) {
	var r Runner
	if r.Running() {
		t.Fatal("zero Runner reports running")
	}
	r.Stop() // without a start: harmless

	started := make(chan struct{})
	exited := make(chan error, 1)
	if !r.Start(context.Background(), func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		exited <- ctx.Err()
	}) {
		t.Fatal("Start of an idle Runner returned false")
	}
	recv(t, started, "start")
	if !r.Running() {
		t.Fatal("started Runner reports not running")
	}
	if r.Start(context.Background(), func(context.Context) { t.Error("second fn ran") }) {
		t.Fatal("Start of a running Runner returned true")
	}
	r.Stop()
	// Stop returned: fn has returned, its context cancelled.
	select {
	case err := <-exited:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("fn's context ended with %v, want Canceled", err)
		}
	default:
		t.Fatal("Stop returned before fn did")
	}
	if r.Running() {
		t.Fatal("stopped Runner reports running")
	}
	r.Stop() // twice: harmless

	// A stopped Runner starts again.
	ran := make(chan struct{})
	if !r.Start(context.Background(), func(context.Context) { close(ran) }) {
		t.Fatal("Start after Stop returned false")
	}
	recv(t, ran, "second run")
	r.Stop()
}

// The goroutine's context carries the parent's values but not its
// cancellation: only Stop ends it.
func TestRunnerIgnoresParentCancel(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	cancel()
	var r Runner
	got := make(chan any, 1)
	errc := make(chan error, 1)
	r.Start(parent, func(ctx context.Context) {
		got <- ctx.Value(key{})
		errc <- ctx.Err()
		<-ctx.Done()
	})
	if v := recv(t, got, "value"); v != "v" {
		t.Fatalf("value = %v, want the parent's", v)
	}
	if err := recv(t, errc, "err"); err != nil {
		t.Fatalf("fn's context is done (%v) because its parent was cancelled", err)
	}
	r.Stop()
}

// Concurrent Stops all return once fn has returned; only one cancels.
func TestRunnerConcurrentStop(t *testing.T) {
	var r Runner
	release := make(chan struct{})
	var returned atomic.Bool
	r.Start(context.Background(), func(ctx context.Context) {
		<-ctx.Done()
		<-release
		returned.Store(true)
	})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(r.Stop)
	}
	close(release)
	wg.Wait()
	// The first Stop waited for fn; the others had nothing to wait for.
	r.Stop()
	if r.Running() {
		t.Fatal("Runner running after Stop")
	}
	if !returned.Load() {
		t.Fatal("fn had not returned when every Stop did")
	}
}

func TestEveryCallsAtOnceThenEachInterval(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{}, 10)
	done := make(chan struct{})
	n := 0
	go func() {
		defer close(done)
		Every(ctx, time.Millisecond, func(ctx context.Context) {
			n++
			if n == 3 {
				cancel()
			}
			calls <- struct{}{}
		})
	}()
	for range 3 {
		recv(t, calls, "call")
	}
	recv(t, done, "Every's return after cancel")
	// A tick that was due when ctx ended may still call fn once, with ctx
	// done: Every's select picks at random among ready cases.
	if n != 3 && n != 4 {
		t.Fatalf("fn called %d times, want 3 (or 4: a tick due as ctx ended)", n)
	}
}

func TestEveryFirstCallIsImmediate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	called := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// An hour's interval: only the first call can happen in the test.
		Every(ctx, time.Hour, func(context.Context) { called <- struct{}{} })
	}()
	recv(t, called, "first call")
	cancel()
	recv(t, done, "return")
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Microsecond) {
		t.Fatal("Sleep of 1µs reported an interruption")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep on a done context reported the full hour")
	}
}

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		n    int
		max  time.Duration
		want time.Duration
	}{
		{1, time.Second, 100 * ms}, {2, time.Second, 200 * ms}, {3, time.Second, 400 * ms},
		{4, time.Second, 800 * ms}, {5, time.Second, time.Second}, {50, time.Second, time.Second},
		{0, time.Second, 100 * ms}, {1, 50 * ms, 50 * ms}, {3, 300 * ms, 300 * ms},
	} {
		if got := Backoff(c.n, c.max); got != c.want {
			t.Errorf("Backoff(%d, %v) = %v, want %v", c.n, c.max, got, c.want)
		}
	}
}

func TestBoundedAndStopping(t *testing.T) {
	var err error
	Bounded(context.Background(), time.Nanosecond, func(ctx context.Context) {
		<-ctx.Done()
		err = ctx.Err()
		if Stopping(ctx) {
			t.Error("Stopping is true for a context whose deadline passed")
		}
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("bounded context ended with %v, want DeadlineExceeded", err)
	}
	parent, cancel := context.WithCancel(context.Background())
	cancel()
	Bounded(parent, time.Hour, func(ctx context.Context) {
		if !Stopping(ctx) {
			t.Error("Stopping is false for a cancelled parent")
		}
	})
	if Stopping(context.Background()) {
		t.Error("Stopping is true for a live context")
	}
}

// poll runs Poll in a goroutine and returns a function that stops it and
// waits for its return.
func poll(t *testing.T, wake <-chan struct{}, interval time.Duration,
	pass func(context.Context) (time.Duration, error), onError func(error, int, time.Duration)) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		Poll(ctx, wake, interval, pass, onError)
	}()
	return ctx, func() {
		cancel()
		recv(t, done, "Poll's return")
	}
}

// BoundedCall returns fn's error as it is, unless fn failed because its
// bound ran out: then a *TimeoutError naming the bound, which wraps
// context.DeadlineExceeded and fn's error. A call failed by the caller's
// own context is no timeout of the bound.
func TestBoundedCall(t *testing.T) {
	if err := BoundedCall(context.Background(), wait, func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("call has no deadline")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	down := errors.New("store down")
	if err := BoundedCall(context.Background(), wait, func(context.Context) error { return down }); err != down {
		t.Fatalf("failed call: %v; want its own error", err)
	}
	hang := func(ctx context.Context) error {
		<-ctx.Done()
		return fmt.Errorf("claim: %w", ctx.Err())
	}
	err := BoundedCall(context.Background(), time.Millisecond, hang)
	te, ok := errors.AsType[*TimeoutError](err)
	if !ok || te.After != time.Millisecond || !errors.Is(err, context.DeadlineExceeded) ||
		err.Error() != "no answer from the store within 1ms: claim: context deadline exceeded" {
		t.Fatalf("call that hangs: %v (%T); want a *TimeoutError naming 1ms", err, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := BoundedCall(ctx, wait, hang); !errors.Is(err, context.Canceled) {
		t.Fatalf("call whose caller gave up: %v; want context.Canceled", err)
	} else if _, ok := errors.AsType[*TimeoutError](err); ok {
		t.Fatalf("call whose caller gave up: %v; want no *TimeoutError", err)
	}
}

func TestPollRunsAtOnceThenOnWake(t *testing.T) {
	wake := make(chan struct{})
	passes := make(chan struct{})
	_, stop := poll(t, wake, time.Hour, func(ctx context.Context) (time.Duration, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("pass has no deadline (CallTimeout)")
		}
		passes <- struct{}{}
		return time.Hour, nil
	}, func(error, int, time.Duration) { t.Error("onError called") })
	defer stop()
	recv(t, passes, "first pass")
	for range 3 {
		wake <- struct{}{} // received only by Poll's select: the pass follows
		recv(t, passes, "pass after wake")
	}
}

// The wait a pass returns schedules the next one, capped at interval; zero
// or negative runs it at once.
func TestPollWaitsWhatThePassSays(t *testing.T) {
	passes := make(chan time.Time, 1)
	waits := []time.Duration{-time.Second, 0, time.Hour /* capped at interval */, time.Hour}
	i := 0
	_, stop := poll(t, nil, 5*time.Millisecond, func(ctx context.Context) (time.Duration, error) {
		w := waits[min(i, len(waits)-1)]
		i++
		select {
		case passes <- time.Now():
		case <-ctx.Done():
		}
		return w, nil
	}, func(error, int, time.Duration) { t.Error("onError called") })
	defer stop()
	for range 5 {
		recv(t, passes, "pass")
	}
}

// A failing pass is reported with its count and a backoff that grows from
// the interval; a success resets the count.
func TestPollBacksOffOnErrors(t *testing.T) {
	type report struct {
		failures int
		wait     time.Duration
	}
	reports := make(chan report, 10)
	fail := errors.New("store down")
	results := []error{fail, fail, nil, fail}
	i := 0
	_, stop := poll(t, nil, time.Millisecond, func(context.Context) (time.Duration, error) {
		err := results[min(i, len(results)-1)]
		i++
		return 0, err
	}, func(err error, failures int, wait time.Duration) {
		if !errors.Is(err, fail) {
			t.Errorf("onError got %v", err)
		}
		select {
		case reports <- report{failures, wait}:
		default: // the test has seen what it checks
		}
	})
	defer stop()
	for _, want := range []report{{1, 100 * time.Millisecond}, {2, 200 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := recv(t, reports, "error report"); got != want {
			t.Fatalf("report = %+v, want %+v", got, want)
		}
	}
}

// The backoff is never shorter than the interval.
func TestPollBackoffIsAtLeastTheInterval(t *testing.T) {
	reports := make(chan time.Duration, 1)
	_, stop := poll(t, nil, time.Hour, func(context.Context) (time.Duration, error) {
		return 0, errors.New("down")
	}, func(_ error, _ int, wait time.Duration) {
		select {
		case reports <- wait:
		default:
		}
	})
	defer stop()
	if got := recv(t, reports, "error report"); got != time.Hour {
		t.Fatalf("wait = %v, want the interval (1h)", got)
	}
}

// A pass that fails because Poll is stopping is not reported.
func TestPollStoppingErrorIsNotReported(t *testing.T) {
	entered := make(chan struct{})
	ctx, stop := poll(t, nil, time.Hour, func(ctx context.Context) (time.Duration, error) {
		close(entered)
		<-ctx.Done()
		return 0, ctx.Err()
	}, func(err error, _ int, _ time.Duration) { t.Errorf("onError(%v) while stopping", err) })
	recv(t, entered, "pass")
	stop()
	if ctx.Err() == nil {
		t.Fatal("stop did not cancel")
	}
}
