// Package hosted supervises long-running services (ASP.NET Core's hosted
// services, BackgroundService.ExecuteAsync): it runs each service's loop,
// restarts it with backoff when it returns an error or panics, stops it
// through its context at shutdown, and, for singleton services, runs it in
// only one process of those sharing the store, moving it when that process
// dies (a lease, as the maintenance leader holds).
package hosted

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/kilnjobs/kiln/internal/leader"
	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Restart says when a service whose Run returned is started again.
type Restart string

const (
	RestartAlways    Restart = "always"     // after an error, a panic or a nil return
	RestartOnFailure Restart = "on_failure" // after an error or a panic only
	RestartNever     Restart = "never"      // never
)

// State is where a service is in its life.
type State string

const (
	StateWaiting    State = "waiting"    // started, not running yet; a singleton waits for its lease
	StateRunning    State = "running"    // Run is executing in this process
	StateRestarting State = "restarting" // Run returned; waiting for the backoff
	StateStopped    State = "stopped"    // not running, and will not run again until Start
)

// Spec describes one service.
type Spec struct {
	Name      string
	Run       func(ctx context.Context) error
	Restart   Restart
	Singleton bool
	// MinBackoff and MaxBackoff bound the wait before a restart: it starts
	// at MinBackoff and doubles after each quick failure, up to MaxBackoff.
	// A run that lasted longer than MaxBackoff resets it.
	MinBackoff, MaxBackoff time.Duration
}

// Status is a service's state as seen by this process.
type Status struct {
	Name        string
	State       State
	Singleton   bool
	Restarts    int        // how many times Run was started again
	LastError   string     // the last error or panic, with a trimmed stack for panics
	LastErrorAt *time.Time // UTC
	StartedAt   *time.Time // when the current or last run began (UTC)
	Holder      string     // the process running it: this one, or "" when not running here
}

// Config configures a Supervisor.
type Config struct {
	ProcessID string
	Store     store.Store
	LeaderTTL time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

// Supervisor runs services. Create it with New.
type Supervisor struct {
	cfg   Config
	specs []Spec

	mu       sync.Mutex // guards status and stopping
	status   map[string]*Status
	stopping bool // Stop was called: a service that ends is stopped, not waiting

	runners  []service.Runner
	electors []*leader.Elector
	reporter service.Runner
	changed  chan struct{} // a status changed: report it
}

// New returns a Supervisor for specs; Start runs them.
func New(cfg Config, specs []Spec) *Supervisor {
	s := &Supervisor{cfg: cfg, specs: specs, status: make(map[string]*Status, len(specs)), changed: make(chan struct{}, 1)}
	for _, sp := range specs {
		s.status[sp.Name] = &Status{Name: sp.Name, State: StateStopped, Singleton: sp.Singleton}
	}
	return s
}

// Start starts every service (singletons once elected), and, when the store
// keeps service reports, the reporter that writes their states to it.
func (s *Supervisor) Start(ctx context.Context) {
	if len(s.specs) > 0 {
		s.reporter.Start(ctx, func(ctx context.Context) { s.report(ctx, s.cfg.Store) })
	}
	s.runners = make([]service.Runner, len(s.specs))
	s.electors = make([]*leader.Elector, len(s.specs))
	for i, sp := range s.specs {
		s.set(sp.Name, func(st *Status) { st.State = StateWaiting })
		if !sp.Singleton {
			s.runners[i].Start(ctx, func(ctx context.Context) { s.supervise(ctx, sp) })
			continue
		}
		runner := &s.runners[i]
		s.electors[i] = leader.New(leader.Config{
			Store: s.cfg.Store, Name: "service:" + sp.Name, LeaderID: s.cfg.ProcessID, TTL: s.cfg.LeaderTTL,
			Now: s.cfg.Now, Logger: s.cfg.Logger,
			OnElected: func(ctx context.Context) {
				runner.Start(ctx, func(ctx context.Context) { s.supervise(ctx, sp) })
			},
			OnDeposed: func() {
				runner.Stop()
				s.set(sp.Name, func(st *Status) {
					st.State, st.Holder = StateWaiting, ""
					if s.stopping {
						st.State = StateStopped
					}
				})
			},
		})
		s.electors[i].Start(ctx)
	}
}

// StopGrace is the least time Stop gives the services to return once it
// has cancelled their contexts, even when its ctx ends sooner (or has
// ended): a service that returns promptly on cancellation is then never
// reported as stuck.
const StopGrace = time.Second

// Stop cancels every service's context and waits for them to return until
// ctx is done, and at least StopGrace. It returns an error naming the
// services whose Run was still running then; their goroutines are left
// behind, and their statuses stay running until Run returns. Every other
// service's status is stopped when Stop returns.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for i := range s.runners { // none before Start
			wg.Go(func() {
				if s.electors[i] != nil {
					s.electors[i].Stop() // stops the runner, then resigns
				} else {
					s.runners[i].Stop()
				}
			})
		}
		wg.Wait()
	}()
	grace := time.NewTimer(StopGrace)
	defer grace.Stop()
	ctxDone, graceDone := ctx.Done(), grace.C // nil once received (a nil ctx.Done never ends)
	for ctxDone != nil || graceDone != nil {
		select {
		case <-done:
			ctxDone, graceDone = nil, nil
		case <-ctxDone:
			ctxDone = nil
		case <-graceDone:
			graceDone = nil
		}
	}
	var running []string
	s.mu.Lock()
	for _, sp := range s.specs {
		if st := s.status[sp.Name]; st.State == StateRunning {
			running = append(running, sp.Name)
		} else {
			st.State, st.Holder = StateStopped, ""
		}
	}
	s.mu.Unlock()
	s.reporter.Stop() // writes the final states: stopped, or running for the stuck ones
	if len(running) > 0 {
		return fmt.Errorf("hosted services still running: %v", running)
	}
	return nil
}

// reportEvery is how often the reporter writes the states when nothing
// changed, so that readers can tell a live process from a gone one.
const reportEvery = 5 * time.Second

// report writes the services' states to rs when they change and every
// reportEvery, and once more when stopped.
func (s *Supervisor) report(ctx context.Context, rs store.ServiceStore) {
	write := func(ctx context.Context) {
		now := s.cfg.Now()
		for _, st := range s.Statuses() {
			err := rs.ServiceReport(ctx, &store.ServiceReportParams{Row: &kilntype.ServiceRow{
				Name: st.Name, ProcessID: s.cfg.ProcessID, State: string(st.State), Singleton: st.Singleton,
				Restarts: st.Restarts, LastError: st.LastError, LastErrorAt: st.LastErrorAt, StartedAt: st.StartedAt,
				UpdatedAt: now,
			}})
			if err != nil && ctx.Err() == nil {
				s.cfg.Logger.Warn("kiln: cannot report hosted service state", "service", st.Name, "err", err)
			}
		}
	}
	tick := time.NewTicker(reportEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			write(final)
			cancel()
			return
		case <-s.changed:
		case <-tick.C:
		}
		write(ctx)
	}
}

// Statuses returns every service's status, in definition order.
func (s *Supervisor) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.specs))
	for _, sp := range s.specs {
		out = append(out, *s.status[sp.Name])
	}
	return out
}

func (s *Supervisor) set(name string, fn func(*Status)) {
	s.mu.Lock()
	fn(s.status[name])
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// supervise runs sp until ctx is done or its restart policy says stop; the
// service's status is stopped when it returns.
func (s *Supervisor) supervise(ctx context.Context, sp Spec) {
	defer s.set(sp.Name, func(st *Status) { st.State, st.Holder = StateStopped, "" })
	backoff := sp.MinBackoff
	for first := true; ; first = false {
		started := s.cfg.Now()
		s.set(sp.Name, func(st *Status) {
			st.State, st.StartedAt, st.Holder = StateRunning, &started, s.cfg.ProcessID
			if !first {
				st.Restarts++
			}
		})
		s.cfg.Logger.Info("kiln: hosted service started", "service", sp.Name, "restart", !first)
		err := run(ctx, sp.Run)
		if ctx.Err() != nil {
			s.cfg.Logger.Info("kiln: hosted service stopped", "service", sp.Name)
			return
		}
		ran := s.cfg.Now().Sub(started)
		if err != nil {
			at := s.cfg.Now()
			s.set(sp.Name, func(st *Status) { st.LastError, st.LastErrorAt = err.Error(), &at })
			s.cfg.Logger.Error("kiln: hosted service failed", "service", sp.Name, "err", err)
		}
		if sp.Restart == RestartNever || (err == nil && sp.Restart == RestartOnFailure) {
			s.set(sp.Name, func(st *Status) { st.State, st.Holder = StateStopped, "" })
			s.cfg.Logger.Info("kiln: hosted service ended; not restarted", "service", sp.Name, "restart", sp.Restart)
			return
		}
		if ran > sp.MaxBackoff {
			backoff = sp.MinBackoff // it ran well for a while: start over
		}
		s.set(sp.Name, func(st *Status) { st.State = StateRestarting })
		s.cfg.Logger.Warn("kiln: hosted service will restart", "service", sp.Name, "in", backoff)
		if !service.Sleep(ctx, backoff) {
			return
		}
		backoff = min(backoff*2, sp.MaxBackoff)
	}
}

// ErrPanic marks the error of a service whose Run panicked.
var ErrPanic = errors.New("hosted service panicked")

// run calls fn, turning a panic into an error with a trimmed stack.
func run(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			stack := debug.Stack()
			if len(stack) > 4<<10 {
				stack = stack[:4<<10]
			}
			err = fmt.Errorf("%w: %v\n%s", ErrPanic, r, stack)
		}
	}()
	return fn(ctx)
}
