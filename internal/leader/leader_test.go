package leader

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// candidate is an Elector whose elections and depositions arrive on
// channels.
type candidate struct {
	e       *Elector
	log     *enginetest.Log
	elected chan context.Context // the context of each term
	deposed chan struct{}
}

func newCandidate(t *testing.T, st store.Store, clock *enginetest.Clock, id string, ttl time.Duration) *candidate {
	t.Helper()
	l, log := enginetest.NewLogger()
	c := &candidate{log: log, elected: make(chan context.Context, 10), deposed: make(chan struct{}, 10)}
	c.e = New(Config{
		Store: st, Name: "maintenance", LeaderID: id, TTL: ttl, Now: clock.Now, Logger: l,
		OnElected: func(ctx context.Context) { c.elected <- ctx },
		OnDeposed: func() { c.deposed <- struct{}{} },
	})
	return c
}

func (c *candidate) start(t *testing.T) {
	c.e.Start(context.Background())
	t.Cleanup(c.e.Stop)
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(enginetest.WaitTimeout):
		t.Fatalf("no %s within %s", what, enginetest.WaitTimeout)
		panic("unreachable")
	}
}

func noneYet[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("unexpected %s", what)
	default:
	}
}

// A lone candidate is elected, renews its term every third of the TTL
// without being elected again, and resigns when stopped.
func TestElectedRenewsAndResigns(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	c := newCandidate(t, st, clock, "a", 30*time.Millisecond)
	c.start(t)
	leadCtx := recv(t, c.elected, "election")
	calls := st.WaitCalls(t, enginetest.LeaderAttemptElect, 4)
	for _, call := range calls {
		p := call.Params.(*store.LeaderElectParams)
		if p.Name != "maintenance" || p.LeaderID != "a" || p.TTL != 30*time.Millisecond || !p.Now.Equal(clock.Now()) {
			t.Fatalf("election params %+v", p)
		}
	}
	noneYet(t, c.elected, "second election while leading")
	noneYet(t, c.deposed, "deposition while renewing")
	if got := st.Leader("maintenance", clock.Now()); got != "a" {
		t.Fatalf("leader = %q, want a", got)
	}
	c.e.Stop()
	recv(t, c.deposed, "deposition at stop")
	if leadCtx.Err() == nil {
		t.Fatal("the term's context is live after Stop")
	}
	if n := len(st.Calls(enginetest.LeaderResign)); n != 1 {
		t.Fatalf("%d resignations, want 1", n)
	}
	if got := st.Leader("maintenance", clock.Now()); got != "" {
		t.Fatalf("leader after resignation = %q, want none", got)
	}
}

// Two candidates: one leads; when it stops, it resigns and the other is
// elected at once, its term unexpired by the clock.
func TestResignationHandsOver(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	a := newCandidate(t, st, clock, "a", 30*time.Millisecond)
	a.start(t)
	recv(t, a.elected, "a's election")
	b := newCandidate(t, st, clock, "b", 30*time.Millisecond)
	b.start(t)
	// b has tried and lost a few times.
	n := len(st.Calls(enginetest.LeaderAttemptElect))
	st.WaitCalls(t, enginetest.LeaderAttemptElect, n+4)
	noneYet(t, b.elected, "b's election while a leads")
	a.e.Stop()
	recv(t, b.elected, "b's election after a resigned")
	if got := st.Leader("maintenance", clock.Now()); got != "b" {
		t.Fatalf("leader = %q, want b", got)
	}
}

// A leader that cannot resign (the store fails) is replaced only once its
// term expires.
func TestFailedResignationWaitsForTheTerm(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	a := newCandidate(t, st, clock, "a", 30*time.Millisecond)
	a.start(t)
	recv(t, a.elected, "a's election")
	st.Fail(enginetest.LeaderResign, errors.New("store down"))
	a.e.Stop()
	if len(a.log.Records("cannot resign leadership")) != 1 {
		t.Fatal("the failed resignation was not logged")
	}
	st.Fail(enginetest.LeaderResign, nil)
	b := newCandidate(t, st, clock, "b", 30*time.Millisecond)
	b.start(t)
	n := len(st.Calls(enginetest.LeaderAttemptElect))
	st.WaitCalls(t, enginetest.LeaderAttemptElect, n+3)
	noneYet(t, b.elected, "b's election within a's term")
	clock.Advance(30 * time.Millisecond) // a's term ends
	recv(t, b.elected, "b's election after a's term")
}

// A leader the store no longer elects (another took over) steps down; it
// leads again when elected again.
func TestDeposedWhenTheStoreSaysSo(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	a := newCandidate(t, st, clock, "a", 30*time.Millisecond)
	a.start(t)
	first := recv(t, a.elected, "election")
	// b takes the term over (a's expired at a later clock).
	clock.Advance(time.Minute)
	if ok, err := st.LeaderAttemptElect(context.Background(), &store.LeaderElectParams{
		Name: "maintenance", LeaderID: "b", TTL: time.Hour, Now: clock.Now()}); !ok || err != nil {
		t.Fatalf("b's election: %v, %v", ok, err)
	}
	recv(t, a.deposed, "deposition")
	if first.Err() == nil {
		t.Fatal("the lost term's context is live")
	}
	clock.Advance(time.Hour) // b's term ends
	second := recv(t, a.elected, "second election")
	if second.Err() != nil {
		t.Fatal("the new term's context is done")
	}
}

// A failed election while leading steps down (the term may lapse without
// a renewal), and is logged.
func TestElectionErrorDeposes(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	a := newCandidate(t, st, clock, "a", 30*time.Millisecond)
	a.start(t)
	recv(t, a.elected, "election")
	st.Fail(enginetest.LeaderAttemptElect, errors.New("store down"))
	recv(t, a.deposed, "deposition after a failed renewal")
	if len(a.log.Records("leader election failed")) == 0 {
		t.Fatal("the failed election was not logged")
	}
	st.Fail(enginetest.LeaderAttemptElect, nil)
	recv(t, a.elected, "election once the store is back")
}

// A store that stalls: the renewal gives up after a third of the TTL and
// the leader steps down, well before its term could lapse.
func TestStalledStoreDeposes(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	a := newCandidate(t, st, clock, "a", 30*time.Millisecond)
	a.start(t)
	recv(t, a.elected, "election")
	release := st.Stall(enginetest.LeaderAttemptElect)
	defer release()
	recv(t, a.deposed, "deposition while the store stalls")
	rec := a.log.Records("leader election failed")
	if len(rec) == 0 || !errors.Is(rec[0].Attrs["err"].(error), context.DeadlineExceeded) {
		t.Fatalf("logged %+v, want a deadline error", rec)
	}
	release()
	recv(t, a.elected, "election once the store answers")
}

// Stopping while a call stalls returns promptly; a candidate that never
// led does not resign and logs nothing.
func TestStopWhileStalledBeforeElection(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	st.Stall(enginetest.LeaderAttemptElect)
	a := newCandidate(t, st, clock, "a", time.Hour) // an hour's TTL: the call stalls until Stop
	a.start(t)
	st.WaitCalls(t, enginetest.LeaderAttemptElect, 1)
	a.e.Stop()
	noneYet(t, a.elected, "election")
	noneYet(t, a.deposed, "deposition")
	if n := len(st.Calls(enginetest.LeaderResign)); n != 0 {
		t.Fatalf("%d resignations by a candidate that never led", n)
	}
	if r := a.log.Records(""); len(r) != 0 {
		t.Fatalf("logged %+v", r)
	}
}

// Stopping a leader while its renewal stalls returns, steps down and
// resigns.
func TestStopWhileStalledLeading(t *testing.T) {
	st, clock := enginetest.NewStore(), enginetest.NewClock()
	// A renewal every second, which gives up after a second: Stop comes
	// within that second (unless the machine is very slow: then the
	// leader steps down on its own first, and does not resign).
	a := newCandidate(t, st, clock, "a", 3*time.Second)
	a.start(t)
	recv(t, a.elected, "election")
	st.Stall(enginetest.LeaderAttemptElect)
	st.WaitCalls(t, enginetest.LeaderAttemptElect, 2)
	a.e.Stop()
	recv(t, a.deposed, "deposition")
	if len(a.log.Records("leader election failed")) == 0 && len(st.Calls(enginetest.LeaderResign)) != 1 {
		t.Fatal("no resignation when stopped while leading")
	}
}

// gatedElections is a store whose LeaderAttemptElect reports when each
// call began and its context's deadline, and holds the first call until
// release is closed.
type gatedElections struct {
	store.Store
	calls   chan electionCall
	release chan struct{}
	n       atomic.Int32
}

type electionCall struct{ began, deadline time.Time }

func (g *gatedElections) LeaderAttemptElect(ctx context.Context, p *store.LeaderElectParams) (bool, error) {
	deadline, _ := ctx.Deadline()
	g.calls <- electionCall{began: time.Now(), deadline: deadline}
	if g.n.Add(1) == 1 {
		<-g.release
	}
	return g.Store.LeaderAttemptElect(ctx, p)
}

// A renewal that begins late (here behind an election that took half the
// term) must end two thirds of the term after the last successful call
// began, not a third of the term after it began itself: the leader then
// steps down with a third of its term to spare, however late its renewal
// started (under load, a singleton ran in two processes at once when the
// step-down came at the end of the term).
func TestLateRenewalBoundedByTheTerm(t *testing.T) {
	const ttl = 300 * time.Millisecond
	g := &gatedElections{Store: enginetest.NewStore(), calls: make(chan electionCall, 100), release: make(chan struct{})}
	c := newCandidate(t, g, enginetest.NewClock(), "a", ttl)
	c.start(t)
	first := recv(t, g.calls, "election")
	<-time.After(ttl/2 - time.Since(first.began)) // the scenario: a slow store, not a synchronisation
	close(g.release)
	recv(t, c.elected, "election")
	renewal := recv(t, g.calls, "renewal")
	if limit := first.began.Add(2 * ttl / 3); renewal.deadline.After(limit) {
		t.Fatalf("renewal began %s after the election and may run until %s after it; want at most %s (two thirds of the term)",
			renewal.began.Sub(first.began), renewal.deadline.Sub(first.began), 2*ttl/3)
	}
}
