package kiln_test

import (
	"context"
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
