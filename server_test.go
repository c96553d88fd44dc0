package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// waitServers polls the registry until cond holds for its rows.
func waitServers(t *testing.T, c *kiln.Client, what string, cond func([]*kiln.ServerRow) bool) []*kiln.ServerRow {
	t.Helper()
	var rows []*kiln.ServerRow
	testutil.EventuallyNil(t, "the servers to become "+what, func() error {
		var err error
		if rows, err = c.ServerList(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !cond(rows) {
			return fmt.Errorf("servers %+v", rows)
		}
		return nil
	})
	return rows
}

func TestServerRegistry(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
		started <- struct{}{}
		<-release
		return nil
	}))
	st := openStore(t, "")
	cfg := fastConfig(st, workers, newClock())
	cfg.ID = "server-under-test"
	cfg.Queues = map[string]kiln.QueueConfig{"default": {MaxWorkers: 3}, "mail": {MaxWorkers: 2}}
	cfg.ServerRefreshInterval = 10 * time.Millisecond
	c, err := kiln.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			close(release)
			c.Stop(context.Background())
		}
	})

	rows := waitServers(t, c, "registered", func(rows []*kiln.ServerRow) bool { return len(rows) == 1 })
	r := rows[0]
	host, _ := os.Hostname()
	if r.ID != cfg.ID || r.Host != host || r.PID != os.Getpid() || !slices.Equal(r.Kinds, []string{"test"}) ||
		!r.StartedAt.Equal(testBase) || !r.RefreshedAt.Equal(testBase) {
		t.Fatalf("registered row = %+v", r)
	}
	want := []kilntype.ServerQueue{{Name: "default", MaxWorkers: 3}, {Name: "mail", MaxWorkers: 2}}
	if !slices.Equal(r.Queues, want) {
		t.Fatalf("queues = %+v; want %+v", r.Queues, want)
	}

	clienttest.Enqueue(t, c, testArgs{N: 1}, nil)
	<-started
	waitServers(t, c, "busy", func(rows []*kiln.ServerRow) bool {
		busy, total := rows[0].Busy()
		return busy == 1 && total == 5 && rows[0].Queues[0].Busy == 1
	})

	close(release)
	stopped = true
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rows, err := c.ServerList(context.Background()); err != nil || len(rows) != 0 {
		t.Fatalf("after Stop, ServerList = %+v, %v; want empty", rows, err)
	}
}

// claimAfterRegistry is a store that tells, at the first claim, whether
// the process's registry row had been written (by a call of ServerUpsert
// that returned).
type claimAfterRegistry struct {
	store.Store
	registered atomic.Bool
	first      sync.Once
	atClaim    chan bool
}

func (s *claimAfterRegistry) ServerUpsert(ctx context.Context, p *store.ServerUpsertParams) error {
	err := s.Store.ServerUpsert(ctx, p)
	if err == nil {
		s.registered.Store(true)
	}
	return err
}

func (s *claimAfterRegistry) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	s.first.Do(func() { s.atClaim <- s.registered.Load() })
	return s.Store.JobClaim(ctx, p)
}

// TestServerRegisteredBeforeClaims checks that a client writes its
// registry row before its producers claim anything: the gate of contract
// migrations (store/internal/migrate) reads the registry to hold back a
// migration that a running build still needs.
func TestServerRegisteredBeforeClaims(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	st := &claimAfterRegistry{atClaim: make(chan bool, 1)}
	cfg := fastConfig(openStore(t, ""), workers, newClock())
	st.Store = cfg.Store
	cfg.Store = st
	c, err := kiln.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	select {
	case registered := <-st.atClaim:
		if !registered {
			t.Error("the first claim came before the registry row was written")
		}
	case <-time.After(testutil.Timeout):
		t.Fatal("no claim")
	}
}

// contractGate is a store that models a contract migration of a newer
// build applied while a client starts, right after the first call of the
// store method named at returned: the migration's gate applies it when no
// process is registered (as store/internal/migrate does, reading the
// registry), and SchemaCheck then refuses the schema (as a build's
// SchemaCheck refuses a contract migration beyond it). It records whether
// the client claimed.
type contractGate struct {
	store.Store
	at      string // "SchemaCheck" or "ServerUpsert"
	once    sync.Once
	applied atomic.Bool
	claimed atomic.Bool
	failReg atomic.Bool // ServerUpsert fails
}

func (s *contractGate) migrate(ctx context.Context, method string) {
	if method != s.at {
		return
	}
	s.once.Do(func() {
		if rows, err := s.Store.ServerList(ctx); err == nil && len(rows) == 0 {
			s.applied.Store(true)
		}
	})
}

func (s *contractGate) SchemaCheck(ctx context.Context) error {
	if s.applied.Load() {
		return errors.New("database has a contract migration applied for builds from migration 99 on")
	}
	err := s.Store.SchemaCheck(ctx)
	s.migrate(ctx, "SchemaCheck")
	return err
}

func (s *contractGate) ServerUpsert(ctx context.Context, p *store.ServerUpsertParams) error {
	if s.failReg.Load() {
		return errors.New("store down")
	}
	err := s.Store.ServerUpsert(ctx, p)
	s.migrate(ctx, "ServerUpsert")
	return err
}

func (s *contractGate) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	s.claimed.Store(true)
	return s.Store.JobClaim(ctx, p)
}

// TestStartRegistersBeforeSchemaCheck applies a contract migration (a
// model of its gate: contractGate) right after each store call of Start:
// either the process's row holds it back, or Start fails at the schema
// check; never does the process start beside the applied migration. A
// client that checked the schema before registering did, when the
// migration came between the check and the row.
func TestStartRegistersBeforeSchemaCheck(t *testing.T) {
	t.Parallel()
	for _, at := range []string{"SchemaCheck", "ServerUpsert"} {
		t.Run("after "+at, func(t *testing.T) {
			t.Parallel()
			workers := kiln.NewWorkers()
			kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
			cfg := fastConfig(openStore(t, ""), workers, newClock())
			st := &contractGate{Store: cfg.Store, at: at}
			cfg.Store = st
			c, err := kiln.NewClient(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Start(context.Background())
			t.Cleanup(func() { c.Stop(context.Background()) })
			if err == nil && st.applied.Load() {
				t.Fatal("the client started, and the contract migration was applied during its start: its row did not hold it back")
			}
			if err != nil {
				if !strings.Contains(err.Error(), "contract migration applied") {
					t.Fatalf("Start: %v; want the schema check's refusal", err)
				}
				if rows, err := st.Store.ServerList(context.Background()); err != nil || len(rows) != 0 {
					t.Fatalf("rows %+v, %v after a failed start; want none", rows, err)
				}
			}
		})
	}
}

// TestStartFailsWhenRegistrationFails: a process that cannot write its
// registry row (the first write fails) does not start, and so never
// claims: the gate of contract migrations would not see it. Once the
// store takes the row, Start succeeds.
func TestStartFailsWhenRegistrationFails(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	cfg := fastConfig(openStore(t, ""), workers, newClock())
	st := &contractGate{Store: cfg.Store}
	st.failReg.Store(true)
	cfg.Store = st
	c, err := kiln.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clienttest.Enqueue(t, c, testArgs{N: 1}, nil)
	err = c.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "register this process") || !strings.Contains(err.Error(), "store down") {
		c.Stop(context.Background())
		t.Fatalf("Start with a failing registry write: %v; want an error naming the registration and the store's error", err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.claimed.Load() {
		t.Fatal("an unregistered process claimed")
	}
	st.failReg.Store(false)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	waitServers(t, c, "registered", func(rows []*kiln.ServerRow) bool { return len(rows) == 1 })
}

// TestStartBoundedOnHangingStore: a store that takes Start's calls and
// never answers (the fake's stall: a PostgreSQL server that accepts the
// connection and never replies, a SQLite file held by another writer)
// does not hang Start, even under a context without a deadline: each call
// is bounded (service.CallTimeout, shortened here), and Start returns an
// error naming the call and the bound, having started nothing (its store
// calls are those listed: no claim, no refresh), or, for the listing of
// held migrations, which Start only logs, logs it and goes on. Once the
// store answers, Start succeeds.
func TestStartBoundedOnHangingStore(t *testing.T) {
	t.Parallel()
	const bound = 20 * time.Millisecond
	noAnswer := "no answer from the store within 20ms"
	for _, tc := range []struct {
		stall string
		want  string   // in Start's error; "" when Start succeeds and logs it
		calls []string // Start's store calls, in order, when it failed
	}{
		{stall: enginetest.ServerUpsert, want: "register this process in the server registry: " + noAnswer,
			calls: []string{enginetest.ServerUpsert}}, // returns at once: no schema check
		{stall: enginetest.SchemaCheck, want: "check the schema: " + noAnswer,
			calls: []string{enginetest.ServerUpsert, enginetest.SchemaCheck, enginetest.ServerDelete}},
		{stall: enginetest.RecurringGet, want: noAnswer + `: recurring job "nightly"`,
			calls: []string{enginetest.ServerUpsert, enginetest.SchemaCheck, enginetest.MigrationsHeld,
				enginetest.RecurringGet, enginetest.ServerDelete}},
		{stall: enginetest.MigrationsHeld},
	} {
		t.Run(tc.stall, func(t *testing.T) {
			t.Parallel()
			st := enginetest.NewStore()
			logger, log := enginetest.NewLogger()
			workers := kiln.NewWorkers()
			kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
			c, err := kiln.NewClient(&kiln.Config{
				Store: st, Workers: workers, Logger: logger, DisableMaintenance: true,
				Recurring: []kiln.RecurringJob{{ID: "nightly", Schedule: "@daily", Args: testArgs{N: 1}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			kiln.SetStoreCallTimeout(c, bound)
			t.Cleanup(func() { c.Stop(context.Background()) })
			release := st.Stall(tc.stall)
			t.Cleanup(release) // before the Stop above: lets a hung Start return
			started := make(chan error, 1)
			go func() { started <- c.Start(context.Background()) }()
			err = testutil.Receive(t, started, "Start to return with "+tc.stall+" stalled", nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Start with %s stalled: %v; want a start", tc.stall, err)
				}
				// Logged by Start itself, before it returned.
				w := log.Records("cannot list the contract migrations held back")
				if len(w) != 1 || !strings.Contains(fmt.Sprint(w[0].Attrs["err"]), noAnswer) {
					t.Fatalf("warnings %+v; want one naming the bound (%q)", w, noAnswer)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Start with %s stalled: %v; want an error containing %q, wrapping context.DeadlineExceeded", tc.stall, err, tc.want)
			}
			var calls []string
			for _, call := range st.Calls("") {
				calls = append(calls, call.Method)
			}
			if !slices.Equal(calls, tc.calls) {
				t.Fatalf("store calls of the failed start %v; want %v (nothing started)", calls, tc.calls)
			}
			release()
			if err := c.Start(context.Background()); err != nil {
				t.Fatalf("Start once the store answers: %v", err)
			}
			if err := c.Stop(context.Background()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStartCallerCancelsDuringRegistration: the caller's ctx ends while
// the registration waits on the store; Start returns the registration's
// error at once, wrapping the ctx's, without checking the schema (which
// would fail on the dead ctx, or, with a store that ignores it, pass, and
// hide which call it was), and starts nothing.
func TestStartCallerCancelsDuringRegistration(t *testing.T) {
	t.Parallel()
	st := enginetest.NewStore()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	c, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: quietLogger, DisableMaintenance: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	release := st.Stall(enginetest.ServerUpsert)
	t.Cleanup(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan error, 1)
	go func() { started <- c.Start(ctx) }()
	st.WaitCalls(t, enginetest.ServerUpsert, 1)
	cancel()
	err = testutil.Receive(t, started, "Start to return once its ctx is cancelled", nil)
	if err == nil || !strings.Contains(err.Error(), "register this process in the server registry") || !errors.Is(err, context.Canceled) {
		t.Fatalf("Start cancelled during the registration: %v; want the registration's error, wrapping context.Canceled", err)
	}
	var calls []string
	for _, call := range st.Calls("") {
		calls = append(calls, call.Method)
	}
	if want := []string{enginetest.ServerUpsert}; !slices.Equal(calls, want) {
		t.Fatalf("store calls of the cancelled start %v; want %v (no schema check, nothing started)", calls, want)
	}
}

// A process that dies keeps its row until the leader sees its last refresh
// older than ServerTTL.
func TestServerReaperRemovesDeadServers(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	clock := newClock()
	dead := &kiln.ServerRow{ID: "dead", Host: "h", PID: 1, StartedAt: testBase, RefreshedAt: testBase}
	if err := st.ServerUpsert(context.Background(), &store.ServerUpsertParams{Row: dead}); err != nil {
		t.Fatal(err)
	}
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[testArgs]) error { return nil }))
	cfg := fastConfig(st, workers, clock)
	cfg.ServerRefreshInterval, cfg.ServerTTL = 10*time.Millisecond, 40*time.Millisecond
	c := startClient(t, cfg)
	waitServers(t, c, "both registered", func(rows []*kiln.ServerRow) bool { return len(rows) == 2 })

	// Past the TTL the dead server goes; the live one keeps refreshing its
	// row (with the clock's time), so it stays or comes back at once.
	clock.Advance(time.Minute)
	rows := waitServers(t, c, "reaped", func(rows []*kiln.ServerRow) bool { return len(rows) == 1 })
	if rows[0].ID != c.ID() {
		t.Fatalf("left %+v; want only %s", rows, c.ID())
	}
}

func TestServerTTLValidated(t *testing.T) {
	t.Parallel()
	_, err := kiln.NewClient(&kiln.Config{Store: openStore(t, ""), ServerRefreshInterval: time.Second, ServerTTL: time.Second})
	if err == nil || !strings.Contains(err.Error(), "ServerTTL") {
		t.Fatalf("err = %v; want one naming ServerTTL", err)
	}
}
