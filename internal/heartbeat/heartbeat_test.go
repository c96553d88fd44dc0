package heartbeat

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness is a Heartbeat on a fake store, holding the jobs in held.
type harness struct {
	hb    *Heartbeat
	st    *enginetest.Store
	log   *enginetest.Log
	clock *enginetest.Clock

	mu        sync.Mutex // guards the fields below
	held      []*kilntype.JobRow
	finishing map[int64]bool
	cancels   []cancel
	listed    int // calls of Running
	listedCh  chan struct{}
}

type cancel struct {
	id    int64
	cause error
}

// start starts a Heartbeat holding jobs with ids, on a store that leases
// them to "srv".
func start(t *testing.T, lease, poll time.Duration, ids ...int64) *harness {
	t.Helper()
	h := newHarness(t, lease, poll, ids...)
	h.start(t)
	return h
}

func (h *harness) start(t *testing.T) {
	h.hb.Start(context.Background())
	t.Cleanup(h.hb.Stop)
}

// newHarness returns a Heartbeat holding jobs with ids, on a store that
// leases them to "srv", not started.
func newHarness(t *testing.T, lease, poll time.Duration, ids ...int64) *harness {
	t.Helper()
	h := &harness{st: enginetest.NewStore(), clock: enginetest.NewClock(), finishing: map[int64]bool{},
		listedCh: make(chan struct{}, 1)}
	for _, id := range ids {
		h.st.AddJobs(&kilntype.JobRow{ID: id, Kind: "k"})
	}
	rows, err := h.st.JobClaim(context.Background(), &store.JobClaimParams{Max: len(ids), AnyKind: true, LeasedBy: "srv"})
	if err != nil {
		t.Fatal(err)
	}
	h.held = rows
	l, log := enginetest.NewLogger()
	h.log = log
	h.hb = New(Config{
		Store: h.st, ServerID: "srv", LeaseDuration: lease, PollInterval: poll, Now: h.clock.Now, Logger: l,
		Running: func() []*kilntype.JobRow {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.listed++
			select {
			case h.listedCh <- struct{}{}:
			default:
			}
			return slices.Clone(h.held)
		},
		Cancel: func(id int64, cause error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.cancels = append(h.cancels, cancel{id, cause})
		},
		Finishing: func(id int64) bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.finishing[id]
		},
	})
	return h
}

func (h *harness) cancelled() []cancel {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.cancels)
}

func TestRenewsLeasesOfRunningJobs(t *testing.T) {
	h := start(t, 30*time.Millisecond, time.Hour, 1, 2)
	// A lease of 30 ms is renewed every 10 ms: wait for three renewals.
	calls := h.st.WaitCalls(t, enginetest.JobLeaseRenew, 3)
	for _, c := range calls {
		p := c.Params.(*store.JobLeaseRenewParams)
		if p.LeasedBy != "srv" || !slices.Equal(p.IDs, []int64{1, 2}) ||
			!p.Now.Equal(h.clock.Now()) || p.LeaseExpiresAt.Sub(p.Now) != 30*time.Millisecond {
			t.Fatalf("renewal %+v; want jobs 1 and 2 of srv for 30ms from the clock's now", p)
		}
	}
	if got := h.cancelled(); len(got) != 0 {
		t.Fatalf("cancelled %v while every lease was renewed", got)
	}
}

// With no job running, the loop asks the store nothing.
func TestIdleCallsNoStore(t *testing.T) {
	h := start(t, 3*time.Millisecond, time.Millisecond)
	for range 5 {
		select {
		case <-h.listedCh:
		case <-time.After(enginetest.WaitTimeout):
			t.Fatal("Running never called")
		}
	}
	if n, m := len(h.st.Calls(enginetest.JobLeaseRenew)), len(h.st.Calls(enginetest.JobListCancelRequested)); n+m != 0 {
		t.Fatalf("idle heartbeat made %d renewals and %d cancel polls", n, m)
	}
}

// A job the renewal misses was taken back: its context is cancelled with
// ErrLeaseLost, unless its outcome is being written.
func TestLostLeaseCancelsTheCopy(t *testing.T) {
	h := start(t, 30*time.Millisecond, time.Hour, 1, 2, 3)
	h.mu.Lock()
	h.finishing[3] = true
	h.mu.Unlock()
	h.st.TakeBack(2)
	h.st.TakeBack(3)
	enginetest.Eventually(t, "cancel of job 2", func() bool { return len(h.cancelled()) > 0 })
	got := h.cancelled()[0]
	if got.id != 2 || !errors.Is(got.cause, jobexec.ErrLeaseLost) {
		t.Fatalf("cancel = %+v, want job 2 with ErrLeaseLost", got)
	}
	h.hb.Stop()
	for _, c := range h.cancelled() {
		if c.id != 2 {
			t.Fatalf("cancelled job %d; only job 2 lost its lease (3 is finishing, 1 is held)", c.id)
		}
	}
	if len(h.log.Records("job lease lost")) == 0 {
		t.Fatal("no warning for the lost lease")
	}
}

// A cancel requested in the store reaches the job's context with
// ErrCancelRequested.
func TestRelaysCancelRequests(t *testing.T) {
	h := start(t, time.Hour, time.Millisecond, 1, 2)
	h.st.RequestCancel(2)
	enginetest.Eventually(t, "cancel of job 2", func() bool { return len(h.cancelled()) > 0 })
	got := h.cancelled()[0]
	if got.id != 2 || !errors.Is(got.cause, jobexec.ErrCancelRequested) {
		t.Fatalf("cancel = %+v, want job 2 with ErrCancelRequested", got)
	}
	if c := h.st.Calls(enginetest.JobListCancelRequested)[0]; c.Params != "srv" {
		t.Fatalf("cancel requests read for %v, want srv", c.Params)
	}
}

// A failed renewal is retried at the next tick, not a third of the lease
// later, and cancels nothing; a successful one waits for the next third.
func TestFailedRenewalIsRetriedAtTheNextTick(t *testing.T) {
	// An hour's lease: a renewal is due again only after 20 minutes, so
	// every renewal after the first is a retry. Cancel requests are read
	// on every tick (1 ms).
	h := newHarness(t, time.Hour, time.Millisecond, 1)
	h.st.Fail(enginetest.JobLeaseRenew, errors.New("store down"))
	h.start(t)
	h.st.WaitCalls(t, enginetest.JobLeaseRenew, 3)
	if n := len(h.log.Records("cannot renew job leases")); n < 2 {
		t.Fatalf("%d errors logged for 3 failed renewals", n)
	}
	h.st.Fail(enginetest.JobLeaseRenew, nil)
	// Two ticks later the renewal has succeeded (a tick polls, then
	// renews): from then on only the cancel polls go on.
	polls := len(h.st.Calls(enginetest.JobListCancelRequested))
	h.st.WaitCalls(t, enginetest.JobListCancelRequested, polls+2)
	renewed := len(h.st.Calls(enginetest.JobLeaseRenew))
	h.st.WaitCalls(t, enginetest.JobListCancelRequested, polls+7)
	if n := len(h.st.Calls(enginetest.JobLeaseRenew)); n != renewed {
		t.Fatalf("%d renewals after a successful one within 5 ticks, want none for 20 minutes", n-renewed)
	}
	if got := h.cancelled(); len(got) != 0 {
		t.Fatalf("cancelled %v after failed renewals", got)
	}
}

// A renewal that stalls ends after a third of the lease, is logged, and
// the loop goes on.
func TestStalledRenewalIsBounded(t *testing.T) {
	h := newHarness(t, 30*time.Millisecond, time.Hour, 1)
	release := h.st.Stall(enginetest.JobLeaseRenew)
	defer release()
	h.start(t)
	h.st.WaitCalls(t, enginetest.JobLeaseRenew, 2) // the first one returned
	enginetest.Eventually(t, "error logged for the stalled renewal", func() bool {
		return len(h.log.Records("cannot renew job leases")) > 0
	})
	if err := h.log.Records("cannot renew job leases")[0].Attrs["err"]; !errors.Is(err.(error), context.DeadlineExceeded) {
		t.Fatalf("logged %v, want a deadline error", err)
	}
}

// Stopping during a stalled call returns at once, without logging the
// cancelled call as an error.
func TestStopDuringStalledCalls(t *testing.T) {
	h := newHarness(t, time.Hour, time.Millisecond, 1)
	h.st.Stall(enginetest.JobListCancelRequested)
	h.start(t)
	h.st.WaitCalls(t, enginetest.JobListCancelRequested, 1)
	h.hb.Stop()
	if r := h.log.Records(""); len(r) != 0 {
		t.Fatalf("logged %+v for a call cancelled by Stop", r)
	}
}

// A failed read of cancel requests is logged and cancels nothing.
func TestCancelPollErrorIsLogged(t *testing.T) {
	h := newHarness(t, time.Hour, time.Millisecond, 1)
	h.st.RequestCancel(1)
	h.st.Fail(enginetest.JobListCancelRequested, errors.New("store down"))
	h.start(t)
	h.st.WaitCalls(t, enginetest.JobListCancelRequested, 2)
	h.hb.Stop()
	if len(h.log.Records("cannot read cancel requests")) == 0 {
		t.Fatal("no warning for the failed read")
	}
	if got := h.cancelled(); len(got) != 0 {
		t.Fatalf("cancelled %v although the read failed", got)
	}
}
