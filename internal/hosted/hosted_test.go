package hosted

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ttl = 30 * time.Millisecond

type harness struct {
	s     *Supervisor
	st    *enginetest.Store
	clock *enginetest.Clock
	log   *enginetest.Log
}

// start starts a Supervisor of process id on st with specs, stopped when
// the test ends.
func start(t *testing.T, st store.Store, clock *enginetest.Clock, id string, specs ...Spec) *harness {
	t.Helper()
	l, log := enginetest.NewLogger()
	s := New(Config{ProcessID: id, Store: st, LeaderTTL: ttl, Now: clock.Now, Logger: l}, specs)
	s.Start(context.Background())
	t.Cleanup(func() { s.Stop(context.Background()) })
	fs, _ := st.(*enginetest.Store)
	return &harness{s: s, st: fs, clock: clock, log: log}
}

func (h *harness) status(name string) Status {
	for _, st := range h.s.Statuses() {
		if st.Name == name {
			return st
		}
	}
	panic("no service " + name)
}

func (h *harness) waitState(t *testing.T, name string, state State) Status {
	t.Helper()
	var last Status
	enginetest.Eventually(t, "service "+name+" "+string(state), func() bool {
		last = h.status(name)
		return last.State == state
	})
	return last
}

func (h *harness) stop(t *testing.T) {
	t.Helper()
	if err := h.s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// blocking is a Run that waits for its context, counting the runs under
// way in running.
func blocking(running *atomic.Int32) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		running.Add(1)
		defer running.Add(-1)
		<-ctx.Done()
		return ctx.Err()
	}
}

func TestRunsUntilStopped(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	var running atomic.Int32
	var gotCtx atomic.Pointer[context.Context]
	h := start(t, st, clock, "p1", Spec{Name: "svc", Restart: RestartAlways, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Run: func(ctx context.Context) error {
			gotCtx.Store(&ctx)
			return blocking(&running)(ctx)
		}})
	s := h.waitState(t, "svc", StateRunning)
	if s.Holder != "p1" || s.StartedAt == nil || !s.StartedAt.Equal(clock.Now()) || s.Restarts != 0 || s.Singleton {
		t.Fatalf("status %+v", s)
	}
	enginetest.Eventually(t, "a report of running", func() bool {
		r := st.Service("svc", "p1")
		return r != nil && r.State == string(StateRunning)
	})
	h.stop(t)
	if (*gotCtx.Load()).Err() == nil {
		t.Fatal("the service's context is live after Stop")
	}
	if s := h.status("svc"); s.State != StateStopped || s.Holder != "" {
		t.Fatalf("status after Stop %+v", s)
	}
	if r := st.Service("svc", "p1"); r.State != string(StateStopped) {
		t.Fatalf("last report %+v, want stopped", r)
	}
	if n := running.Load(); n != 0 {
		t.Fatalf("%d runs under way after Stop", n)
	}
}

func TestRestartPolicies(t *testing.T) {
	boom := errors.New("boom")
	for _, c := range []struct {
		name      string
		restart   Restart
		result    func() error
		restarted bool
		lastError string
	}{
		{"always restarts after nil", RestartAlways, func() error { return nil }, true, ""},
		{"always restarts after an error", RestartAlways, func() error { return boom }, true, "boom"},
		{"on failure stops after nil", RestartOnFailure, func() error { return nil }, false, ""},
		{"on failure restarts after an error", RestartOnFailure, func() error { return boom }, true, "boom"},
		{"on failure restarts after a panic", RestartOnFailure, func() error { panic("oops") }, true, "hosted service panicked: oops"},
		{"never stops after an error", RestartNever, func() error { return boom }, false, "boom"},
		{"never stops after a panic", RestartNever, func() error { panic("oops") }, false, "hosted service panicked: oops"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, clock := enginetest.NewStore(), enginetest.NewClock()
			var runs atomic.Int32
			h := start(t, st, clock, "p1", Spec{Name: "svc", Restart: c.restart,
				MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
				Run: func(ctx context.Context) error {
					if runs.Add(1) > 3 {
						<-ctx.Done() // enough restarts: wait to be stopped
						return nil
					}
					return c.result()
				}})
			var s Status
			if c.restarted {
				enginetest.Eventually(t, "three restarts", func() bool { s = h.status("svc"); return s.Restarts == 3 })
				if s.State != StateRunning {
					t.Fatalf("status %+v, want running", s)
				}
			} else {
				s = h.waitState(t, "svc", StateStopped)
				enginetest.Eventually(t, "the log of the end", func() bool { return len(h.log.Records("not restarted")) == 1 })
				if s.Restarts != 0 || runs.Load() != 1 {
					t.Fatalf("status %+v after %d runs, want one run and no restart", s, runs.Load())
				}
			}
			if !strings.HasPrefix(s.LastError, c.lastError) || (c.lastError == "") != (s.LastErrorAt == nil) {
				t.Fatalf("last error %q at %v, want %q", s.LastError, s.LastErrorAt, c.lastError)
			}
			if s.LastErrorAt != nil && !s.LastErrorAt.Equal(clock.Now()) {
				t.Fatalf("last error at %v, want the clock's now", s.LastErrorAt)
			}
			if strings.Contains(c.lastError, "panicked") && !strings.Contains(s.LastError, "goroutine ") {
				t.Fatalf("a panic's error has no stack: %q", s.LastError)
			}
			h.stop(t)
		})
	}
}

// The wait before a restart doubles after each quick failure up to
// MaxBackoff, and starts over after a run longer than MaxBackoff.
func TestBackoffDoublesAndResets(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	var runs atomic.Int32
	ms := time.Millisecond
	h := start(t, st, clock, "p1", Spec{Name: "svc", Restart: RestartAlways, MinBackoff: ms, MaxBackoff: 4 * ms,
		Run: func(ctx context.Context) error {
			switch runs.Add(1) {
			case 5:
				clock.Advance(5 * ms) // a run longer than MaxBackoff
			case 6:
				<-ctx.Done()
				return nil
			}
			return errors.New("quick failure")
		}})
	enginetest.Eventually(t, "the sixth run", func() bool { return runs.Load() == 6 })
	var got []time.Duration
	for _, r := range h.log.Records("will restart") {
		got = append(got, r.Attrs["in"].(time.Duration))
	}
	want := []time.Duration{ms, 2 * ms, 4 * ms, 4 * ms, ms}
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
	h.stop(t)
}

// A service waiting for its restart is stopped at once by Stop.
func TestStopWhileRestarting(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	h := start(t, st, clock, "p1", Spec{Name: "svc", Restart: RestartAlways, MinBackoff: time.Hour, MaxBackoff: time.Hour,
		Run: func(context.Context) error { return errors.New("boom") }})
	h.waitState(t, "svc", StateRestarting)
	h.stop(t)
	if s := h.status("svc"); s.State != StateStopped {
		t.Fatalf("status %+v, want stopped", s)
	}
}

// A service that ignores its context is reported by Stop after StopGrace,
// even when Stop's context has ended already, and stays running until it
// returns.
func TestStopReportsStuckServices(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	release := make(chan struct{})
	var quick atomic.Int32
	h := start(t, st, clock, "p1",
		Spec{Name: "stuck", Restart: RestartNever, Run: func(context.Context) error { <-release; return nil }},
		Spec{Name: "quick", Restart: RestartNever, Run: blocking(&quick)})
	h.waitState(t, "stuck", StateRunning)
	h.waitState(t, "quick", StateRunning)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := h.s.Stop(ctx)
	if err == nil || !strings.Contains(err.Error(), "stuck") || strings.Contains(err.Error(), "quick") {
		t.Fatalf("Stop = %v, want an error naming stuck only", err)
	}
	if waited := time.Since(start); waited < StopGrace {
		t.Fatalf("Stop returned after %v, before StopGrace", waited)
	}
	if s := h.status("stuck"); s.State != StateRunning {
		t.Fatalf("stuck service's status %+v, want running", s)
	}
	if s := h.status("quick"); s.State != StateStopped {
		t.Fatalf("quick service's status %+v, want stopped", s)
	}
	if r := st.Service("stuck", "p1"); r.State != string(StateRunning) {
		t.Fatalf("stuck service's last report %+v, want running", r)
	}
	close(release)
	h.waitState(t, "stuck", StateStopped)
}

// A singleton runs in one process at a time. When its holder stops, it
// resigns and the service moves to the other process at once; when its
// holder dies without resigning, it moves once the lease expires.
func TestSingletonMoves(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	var running, most atomic.Int32
	run := func(ctx context.Context) error {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-ctx.Done()
		return nil
	}
	spec := Spec{Name: "single", Singleton: true, Restart: RestartAlways, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Run: run}
	p1 := start(t, st, clock, "p1", spec)
	if s := p1.waitState(t, "single", StateRunning); s.Holder != "p1" || !s.Singleton {
		t.Fatalf("p1's status %+v", s)
	}
	p2 := start(t, st, clock, "p2", spec)
	p3 := start(t, st, clock, "p3", spec)
	// p2 and p3 campaign and lose a few times.
	n := len(st.Calls(enginetest.LeaderAttemptElect))
	st.WaitCalls(t, enginetest.LeaderAttemptElect, n+6)
	for _, h := range []*harness{p2, p3} {
		if s := h.status("single"); s.State != StateWaiting || s.Holder != "" {
			t.Fatalf("status in a process without the lease: %+v", s)
		}
	}
	// p1 stops: it resigns, and the service moves.
	p1.stop(t)
	if s := p1.status("single"); s.State != StateStopped {
		t.Fatalf("p1's status after Stop %+v", s)
	}
	enginetest.Eventually(t, "the singleton running in p2 or p3", func() bool {
		return p2.status("single").State == StateRunning || p3.status("single").State == StateRunning
	})
	holder, other := p2, p3
	if p3.status("single").State == StateRunning {
		holder, other = p3, p2
	}
	// The holder dies: its resignation fails, so the other process takes
	// over only once the lease expires.
	st.Fail(enginetest.LeaderResign, errors.New("store down"))
	holder.stop(t)
	st.Fail(enginetest.LeaderResign, nil)
	n = len(st.Calls(enginetest.LeaderAttemptElect))
	st.WaitCalls(t, enginetest.LeaderAttemptElect, n+3)
	if s := other.status("single"); s.State != StateWaiting {
		t.Fatalf("status %+v within the dead holder's lease, want waiting", s)
	}
	clock.Advance(ttl)
	other.waitState(t, "single", StateRunning)
	if m := most.Load(); m != 1 {
		t.Fatalf("%d processes ran the singleton at once", m)
	}
}

// A singleton whose lease is lost (another process took it) stops running
// here and waits.
func TestSingletonDeposed(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	var running atomic.Int32
	h := start(t, st, clock, "p1", Spec{Name: "single", Singleton: true, Restart: RestartAlways,
		MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Run: blocking(&running)})
	h.waitState(t, "single", StateRunning)
	clock.Advance(time.Minute)
	if ok, err := st.LeaderAttemptElect(context.Background(), &store.LeaderElectParams{
		Name: "service:single", LeaderID: "p2", TTL: time.Hour, Now: clock.Now()}); !ok || err != nil {
		t.Fatalf("p2's election: %v, %v", ok, err)
	}
	if s := h.waitState(t, "single", StateWaiting); s.Holder != "" {
		t.Fatalf("status %+v", s)
	}
	if n := running.Load(); n != 0 {
		t.Fatalf("%d runs under way after losing the lease", n)
	}
	h.stop(t)
}

// A failed report is logged; the service runs on.
func TestReportErrorIsLogged(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	st.Fail(enginetest.ServiceReport, errors.New("store down"))
	var running atomic.Int32
	h := start(t, st, clock, "p1", Spec{Name: "svc", Restart: RestartNever, Run: blocking(&running)})
	h.waitState(t, "svc", StateRunning)
	enginetest.Eventually(t, "a warning for the failed report", func() bool {
		return len(h.log.Records("cannot report hosted service state")) > 0
	})
	h.stop(t)
}

// No services: nothing starts, nothing is reported, Stop returns nil.
func TestNoServices(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	h := start(t, st, clock, "p1")
	h.stop(t)
	if c := st.Calls(""); len(c) != 0 {
		t.Fatalf("store calls %v without services", c)
	}
}

// A panic's error holds at most 4 KiB of stack.
func TestPanicStackIsCapped(t *testing.T) {
	var deep func(n int) error
	deep = func(n int) error {
		if n == 0 {
			panic("deep")
		}
		return deep(n - 1)
	}
	err := run(context.Background(), func(context.Context) error { return deep(200) })
	if !errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), "deep") {
		t.Fatalf("run = %v, want ErrPanic with the panic's value", err)
	}
	if n := len(err.Error()); n > 4<<10+100 {
		t.Fatalf("error of %d bytes, want the stack cut at 4 KiB", n)
	}
}

// Stop without a Start is harmless, as for every background part (package
// service's contract): the services are stopped and nothing is reported.
func TestStopWithoutStart(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	var running atomic.Int32
	s := New(Config{ProcessID: "p1", Store: st, LeaderTTL: ttl, Now: clock.Now, Logger: slog.New(slog.DiscardHandler)},
		[]Spec{{Name: "svc", Run: blocking(&running)}, {Name: "single", Singleton: true, Run: blocking(&running)}})
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop without Start: %v", err)
	}
	for _, st := range s.Statuses() {
		if st.State != StateStopped {
			t.Fatalf("status %+v, want stopped", st)
		}
	}
	if c := st.Calls(""); len(c) != 0 {
		t.Fatalf("store calls %v", c)
	}
}
