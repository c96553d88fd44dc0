package registry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/kilntype"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newRegistry(st *enginetest.Store, clock *enginetest.Clock, interval time.Duration) (*Registry, *enginetest.Log) {
	l, log := enginetest.NewLogger()
	busy := 0
	return New(Config{
		Store: st, Now: clock.Now, Interval: interval, Logger: l,
		Row: func() *kilntype.ServerRow {
			busy++ // called by Start, then from the loop only
			return &kilntype.ServerRow{ID: "srv", Host: "h", Queues: []kilntype.ServerQueue{{Name: "q", Busy: busy}}}
		},
	}), log
}

// The row is written when Register returns, then every interval from
// Start with a fresh RefreshedAt and busy count, and deleted at Stop.
func TestRefreshAndDeregister(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	r, log := newRegistry(st, clock, time.Millisecond)
	if err := r.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Servers()["srv"]; !ok {
		t.Fatal("row not registered when Register returned")
	}
	r.Start(context.Background())
	first := st.WaitCalls(t, enginetest.ServerUpsert, 1)[0].Params.(*kilntype.ServerRow)
	if first.ID != "srv" || !first.RefreshedAt.Equal(clock.Now()) {
		t.Fatalf("first row %+v, want srv at the clock's now", first)
	}
	clock.Advance(time.Minute)
	// A refresh whose row was made before the advance may still be on its
	// way to the store (the loop runs every millisecond): take the first
	// upsert made after it, the next one at the latest.
	var (
		later *kilntype.ServerRow
		n     int
	)
	for k := len(st.Calls(enginetest.ServerUpsert)); later == nil; k++ {
		row := st.WaitCalls(t, enginetest.ServerUpsert, k+1)[k].Params.(*kilntype.ServerRow)
		if !row.RefreshedAt.Before(clock.Now()) {
			later, n = row, k
		}
	}
	if !later.RefreshedAt.Equal(clock.Now()) || later.Queues[0].Busy != n+1 {
		t.Fatalf("refreshed row %+v, want the advanced clock and busy %d", later, n+1)
	}
	if _, ok := st.Servers()["srv"]; !ok {
		t.Fatal("row not registered")
	}
	r.Stop()
	if _, ok := st.Servers()["srv"]; ok {
		t.Fatal("row still registered after Stop")
	}
	if d := st.Calls(enginetest.ServerDelete); len(d) != 1 || d[0].Params != "srv" {
		t.Fatalf("deletes %v, want srv once", d)
	}
	if r := log.Records(""); len(r) != 0 {
		t.Fatalf("logged %+v", r)
	}
	r.Stop() // twice: deletes again, harmlessly
}

// A failed registration is Register's error, and Stop then deletes
// nothing; a failed refresh is logged and tried again at the next tick.
func TestRefreshErrorIsRetried(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	st.Fail(enginetest.ServerUpsert, errors.New("store down"))
	r, log := newRegistry(st, clock, time.Millisecond)
	if err := r.Register(context.Background()); err == nil || err.Error() != "store down" {
		t.Fatalf("Register with the store down: %v", err)
	}
	r.Stop()
	if n := len(st.Calls(enginetest.ServerDelete)); n != 0 {
		t.Fatalf("%d deletes of a row never written", n)
	}
	r.Start(context.Background())
	st.WaitCalls(t, enginetest.ServerUpsert, 4) // the registration and 3 refreshes
	st.Fail(enginetest.ServerUpsert, nil)
	enginetest.Eventually(t, "registration once the store is back", func() bool { return len(st.Servers()) == 1 })
	r.Stop()
	if n := len(log.Records("cannot refresh this server's registry row")); n < 2 {
		t.Fatalf("%d warnings for 3 failed refreshes", n)
	}
}

// A refresh that stalls is cut short by Stop without a warning, and the
// row is deleted.
func TestStopDuringStalledRefresh(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	r, log := newRegistry(st, clock, time.Millisecond)
	if err := r.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	st.Stall(enginetest.ServerUpsert)
	st.WaitCalls(t, enginetest.ServerUpsert, 2)
	r.Stop()
	if r := log.Records(""); len(r) != 0 {
		t.Fatalf("logged %+v", r)
	}
	if len(st.Calls(enginetest.ServerDelete)) != 1 {
		t.Fatal("the row was not deleted")
	}
}

// A failed deregistration is logged (the leader's reaper removes the row).
func TestDeregisterError(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	r, log := newRegistry(st, clock, time.Hour)
	if err := r.Register(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Start(context.Background())
	st.Fail(enginetest.ServerDelete, errors.New("store down"))
	r.Stop()
	if len(log.Records("cannot deregister this server")) != 1 {
		t.Fatal("the failed deregistration was not logged")
	}
}

// Stop without a start deletes nothing.
func TestStopWithoutStart(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	r, _ := newRegistry(st, clock, time.Hour)
	r.Stop()
	if c := st.Calls(""); len(c) != 0 {
		t.Fatalf("store calls %v without a start", c)
	}
}

// A registration that the store never answers fails after Config.Timeout
// with an error naming it, whatever ctx allows; Stop then deletes nothing.
// One that the caller gives up on first is the caller's error.
func TestRegisterBounded(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	release := st.Stall(enginetest.ServerUpsert)
	defer release()
	r, _ := newRegistry(st, clock, time.Hour)
	r.cfg.Timeout = 10 * time.Millisecond
	err := r.Register(context.Background())
	te, ok := errors.AsType[*service.TimeoutError](err)
	if !ok || te.After != r.cfg.Timeout || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "no answer from the store within 10ms") {
		t.Fatalf("Register on a stalled store: %v; want a *service.TimeoutError naming 10ms", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Register(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Register under a cancelled context: %v; want context.Canceled", err)
	}
	r.Stop()
	if n := len(st.Calls(enginetest.ServerDelete)); n != 0 {
		t.Fatalf("%d deletes of a row never written", n)
	}
	if d := New(Config{}).timeout(); d != service.CallTimeout {
		t.Fatalf("timeout %v without Config.Timeout; want service.CallTimeout", d)
	}
}
