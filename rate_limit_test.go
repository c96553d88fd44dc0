package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/store"
)

type ratedArgs struct{ N int }

func (ratedArgs) Kind() string { return "rated" }

// ratedWorker completes its jobs at once; its kind is rate limited by
// limit. done counts the jobs it ran, in every process it serves.
type ratedWorker struct {
	kiln.WorkerDefaults[ratedArgs]
	limit kiln.RateLimit
	done  *atomic.Int64
}

func (w ratedWorker) Work(context.Context, *kiln.Job[ratedArgs]) error {
	w.done.Add(1)
	return nil
}

func (w ratedWorker) RateLimit() kiln.RateLimit { return w.limit }

// runRateLimitedCluster runs one client per store (processes sharing one
// database) on one injected clock, with the "rated" kind limited to 4 jobs
// per second, and enqueues 16 jobs. It moves the clock half the
// limit's interval at a time, each time once every client has claimed
// twice since the last move (so each has seen the new time), until every
// job ran; then it checks from the jobs' attempt times that no window of
// one second holds more than 4 starts.
func runRateLimitedCluster(t *testing.T, stores []store.Store, clock *kilntest.Clock) {
	limit := kiln.RateLimit{Limit: 4, Period: time.Second}
	const jobs = 16
	var done atomic.Int64
	rc := startRateCluster(t, stores, clock, func(w *kiln.Workers) {
		kiln.AddWorker(w, ratedWorker{limit: limit, done: &done})
	})
	var ids []int64
	for i := range jobs {
		ids = append(ids, clienttest.Enqueue(t, rc.clients[i%len(rc.clients)], ratedArgs{N: i}, nil).ID)
	}
	rc.advanceUntil(t, limit.Interval()/2, 50*jobs, &done, jobs)
	starts := rc.starts(t, ids)
	if most := maxStartsInWindow(starts, limit.Period); most > limit.Limit {
		t.Fatalf("%d jobs started within %v across %d processes; want at most %d", most, limit.Period, len(stores), limit.Limit)
	}
	// The budget binds: the jobs take at least (jobs-1) intervals.
	if span := starts[len(starts)-1].Sub(starts[0]); span < (jobs-1)*limit.Interval() {
		t.Fatalf("%d starts spanned %v; want at least %v", jobs, span, (jobs-1)*limit.Interval())
	}
}

// TestRateLimitClusterSQLite: two processes on one SQLite file share one
// budget.
func TestRateLimitClusterSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kiln.db")
	runRateLimitedCluster(t, []store.Store{openStore(t, path), openStore(t, path)}, newClock())
}

// TestRateLimitClusterPostgres: three processes on one PostgreSQL schema
// share one budget (kept on the callers' clock, CallerClock, so that the
// test can move it).
func TestRateLimitClusterPostgres(t *testing.T) {
	t.Parallel()
	runRateLimitedCluster(t, callerClockPostgres(t, 3), newClock())
}

// TestRateLimitRunTime: a limit set at run time replaces the worker's
// default until removed, shows in RateLimitList with its budget, and is
// recorded in the audit log when made by an actor.
func TestRateLimitRunTime(t *testing.T) {
	t.Parallel()
	clock := newClock()
	var done atomic.Int64
	workers := kiln.NewWorkers()
	def := kiln.RateLimit{Limit: 2, Period: time.Minute}
	kiln.AddWorker(workers, ratedWorker{limit: def, done: &done})
	cfg := fastConfig(openStore(t, ""), workers, clock)
	c := startClient(t, cfg)
	for i := range 10 {
		clienttest.Enqueue(t, c, ratedArgs{N: i}, nil)
	}
	// The default: one start per 30 s, one at a time.
	testutil.Eventually(t, "one job to run", func() bool { return done.Load() == 1 })
	st, err := c.RateLimitGet(t.Context(), "rated", false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Limit != def || st.Default != def || st.Override != nil || st.Used != 1 ||
		!st.NextSlot.Equal(st.At.Add(30*time.Second)) {
		t.Fatalf("RateLimitGet = %+v; want the default in force, 1 used, next slot in 30s", st)
	}

	ctx := kiln.WithActor(t.Context(), kiln.Actor{Name: "ops", Role: "operator"})
	over := kiln.RateLimit{Limit: 1, Period: time.Second, Burst: 3}
	if err := c.RateLimitSet(ctx, "rated", false, over); err != nil {
		t.Fatal(err)
	}
	// The budget's debt (30 s at the default) is kept up to the new
	// limit's full bucket (4 s): nothing starts until the clock moves;
	// then Burst+1 at once.
	clock.Advance(30 * time.Second)
	testutil.Eventually(t, "5 jobs to have run", func() bool { return done.Load() == 5 })
	list, err := c.RateLimitList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Limit != over || list[0].Default != def || list[0].Override == nil ||
		*list[0].Override != over || list[0].Used != 4 {
		t.Fatalf("RateLimitList = %+v; want the override in force, 4 used", list)
	}

	if err := c.RateLimitRemove(ctx, "rated", false); err != nil {
		t.Fatal(err)
	}
	if err := c.RateLimitRemove(ctx, "rated", false); !errors.Is(err, kiln.ErrNotFound) {
		t.Fatalf("second RateLimitRemove = %v; want ErrNotFound", err)
	}
	var ve *kiln.ValidationError
	if err := c.RateLimitSet(ctx, "rated", false, kiln.RateLimit{Limit: 1}); !errors.As(err, &ve) || ve.Field != "period" {
		t.Fatalf("RateLimitSet without a period = %v; want a ValidationError of period", err)
	}
	entries, err := c.AuditList(t.Context(), &kiln.AuditListParams{Actor: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, fmt.Sprintf("%s %s", e.Action, e.Target))
	}
	want := []string{kiln.AuditRateLimitRemove + " rated", kiln.AuditRateLimitSet + " rated"}
	if !slices.Equal(actions, want) {
		t.Fatalf("audit entries = %v; want %v", actions, want)
	}
}

// TestRateLimitKindChecks: every rate-limit call refuses a kind no job
// can have (empty, over 255 bytes, not UTF-8, with NUL or a control
// character) with a ValidationError of "kind", on both stores alike
// (RateLimitGet and RateLimitRemove passed such a kind to the store,
// where PostgreSQL refuses text that is not UTF-8 or holds NUL and SQLite
// finds nothing), and accepts a kind without a worker, with a slash, or
// of 255 bytes.
func TestRateLimitKindChecks(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		c := newCheckClient(t, st, kiln.Config{})
		ctx := t.Context()
		lim := kiln.RateLimit{Limit: 1, Period: time.Second}
		for _, kind := range []string{"", strings.Repeat("k", 256), "bad\xff", "nul\x00", "tab\tkind"} {
			wantInvalid(t, "set "+strconv.Quote(kind), c.RateLimitSet(ctx, kind, false, lim), "kind")
			_, err := c.RateLimitGet(ctx, kind, false)
			wantInvalid(t, "get "+strconv.Quote(kind), err, "kind")
			wantInvalid(t, "remove "+strconv.Quote(kind), c.RateLimitRemove(ctx, kind, false), "kind")
		}
		for _, kind := range []string{"no.worker", "a/b", strings.Repeat("k", 255), "é"} {
			if err := c.RateLimitSet(ctx, kind, false, lim); err != nil {
				t.Fatalf("set %q: %v", kind, err)
			}
			got, err := c.RateLimitGet(ctx, kind, false)
			if err != nil || got.Limit != lim || got.Override == nil {
				t.Fatalf("get %q = %+v, %v; want the limit set", kind, got, err)
			}
			if err := c.RateLimitRemove(ctx, kind, false); err != nil {
				t.Fatalf("remove %q: %v", kind, err)
			}
		}
	})
}

// TestRateLimitListDefaultsAndOthers: RateLimitList shows the kinds whose
// worker declares a default and the kinds with a limit set at run time
// together, by kind, on both stores (it showed only the former when there
// were any: the store restricts a list of named kinds to them).
func TestRateLimitListDefaultsAndOthers(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		workers := kiln.NewWorkers()
		def := kiln.RateLimit{Limit: 2, Period: time.Minute}
		kiln.AddWorker(workers, ratedWorker{limit: def, done: new(atomic.Int64)})
		c, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		over := kiln.RateLimit{Limit: 1, Period: time.Second}
		for _, kind := range []string{"a.first", "z.last"} {
			if err := c.RateLimitSet(t.Context(), kind, false, over); err != nil {
				t.Fatal(err)
			}
		}
		list, err := c.RateLimitList(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range list {
			got = append(got, fmt.Sprintf("%s %v", s.Kind, s.Limit))
		}
		want := []string{"a.first 1/1s", "rated 2/1m0s", "z.last 1/1s"}
		if !slices.Equal(got, want) {
			t.Fatalf("RateLimitList = %v; want %v", got, want)
		}
	})
}
