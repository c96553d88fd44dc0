package kiln_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/store"
)

// keyRatedArgs are jobs of a tenant: the tenant is the partition key.
type keyRatedArgs struct {
	Tenant string
	N      int
}

func (keyRatedArgs) Kind() string        { return "key_rated" }
func (a keyRatedArgs) Partition() string { return a.Tenant }

// keyRatedWorker completes its jobs at once; its kind is rate limited per
// tenant by limit. done counts the jobs it ran, in every process it serves.
type keyRatedWorker struct {
	kiln.WorkerDefaults[keyRatedArgs]
	limit kiln.RateLimit
	done  *atomic.Int64
}

func (w keyRatedWorker) Work(context.Context, *kiln.Job[keyRatedArgs]) error {
	w.done.Add(1)
	return nil
}

func (w keyRatedWorker) PartitionRateLimit() kiln.RateLimit { return w.limit }

// runKeyRateLimitedCluster runs one client per store (processes sharing
// one database) on one injected clock, with the "key_rated" kind limited
// to 2 jobs per second for each tenant, and enqueues 8 jobs of each of 3
// tenants and 4 without a tenant (sharing the key ""). It moves the clock
// half the limit's interval at a time, each time once every client has
// claimed twice since the last move, until every job ran; then it checks
// from the jobs' attempt times that no window of one second holds more
// than 2 starts of one key, and that the keys ran side by side (no key
// waited for another's backlog).
func runKeyRateLimitedCluster(t *testing.T, stores []store.Store, clock *kilntest.Clock) {
	limit := kiln.RateLimit{Limit: 2, Period: time.Second}
	keys := []string{"acme", "globex", "initech", ""}
	const perKey = 8
	var done atomic.Int64
	rc := startRateCluster(t, stores, clock, func(w *kiln.Workers) {
		kiln.AddWorker(w, keyRatedWorker{limit: limit, done: &done})
	})
	ids := map[string][]int64{}
	for i := range perKey {
		for j, k := range keys {
			c := rc.clients[(i+j)%len(rc.clients)]
			ids[k] = append(ids[k], clienttest.Enqueue(t, c, keyRatedArgs{Tenant: k, N: i}, nil).ID)
		}
	}
	rc.advanceUntil(t, limit.Interval()/2, 20*perKey, &done, int64(perKey*len(keys)))
	var first, last time.Time
	for _, k := range keys {
		starts := rc.starts(t, ids[k])
		if most := maxStartsInWindow(starts, limit.Period); most > limit.Limit {
			t.Fatalf("key %q: %d jobs started within %v across %d processes; want at most %d",
				k, most, limit.Period, len(stores), limit.Limit)
		}
		// Each key's budget binds: its jobs take at least (perKey-1) intervals.
		if span := starts[len(starts)-1].Sub(starts[0]); span < (perKey-1)*limit.Interval() {
			t.Fatalf("key %q: %d starts spanned %v; want at least %v", k, perKey, span, (perKey-1)*limit.Interval())
		}
		if first.IsZero() || starts[0].Before(first) {
			first = starts[0]
		}
		if starts[len(starts)-1].After(last) {
			last = starts[len(starts)-1]
		}
	}
	// The keys shared the time: all of them together took about as long
	// as one (7 intervals), not one after the other (31 intervals).
	if span := last.Sub(first); span > (perKey+2)*limit.Interval() {
		t.Fatalf("%d keys took %v in all; want at most %v (keys run side by side)", len(keys), span, (perKey+2)*limit.Interval())
	}
}

// TestKeyRateLimitClusterSQLite: two processes on one SQLite file share
// each key's budget.
func TestKeyRateLimitClusterSQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kiln.db")
	runKeyRateLimitedCluster(t, []store.Store{openStore(t, path), openStore(t, path)}, newClock())
}

// TestKeyRateLimitClusterPostgres: three processes on one PostgreSQL
// schema share each key's budget (kept on the callers' clock,
// CallerClock, so that the test can move it).
func TestKeyRateLimitClusterPostgres(t *testing.T) {
	t.Parallel()
	runKeyRateLimitedCluster(t, callerClockPostgres(t, 3), newClock())
}

// TestKeyRateLimitRunTime: a per-key limit set at run time replaces the
// worker's default for each key until removed, shows in RateLimitGet
// beside the kind's own, and is recorded in the audit log when made by an
// actor.
func TestKeyRateLimitRunTime(t *testing.T) {
	t.Parallel()
	clock := newClock()
	var done atomic.Int64
	workers := kiln.NewWorkers()
	def := kiln.RateLimit{Limit: 1, Period: time.Minute}
	kiln.AddWorker(workers, keyRatedWorker{limit: def, done: &done})
	c := startClient(t, fastConfig(openStore(t, ""), workers, clock))
	for i := range 3 {
		for _, k := range []string{"a", "b"} {
			clienttest.Enqueue(t, c, keyRatedArgs{Tenant: k, N: i}, nil)
		}
	}
	// The default: one start per key per minute.
	testutil.Eventually(t, "one job of each key to run", func() bool { return done.Load() == 2 })
	st, err := c.RateLimitGet(t.Context(), "key_rated", true)
	if err != nil {
		t.Fatal(err)
	}
	if !st.PerKey || st.Limit != def || st.Default != def || st.Override != nil || st.Used != 1 ||
		!st.NextSlot.Equal(st.At.Add(time.Minute)) {
		t.Fatalf("RateLimitGet(per key) = %+v; want the default in force, 1 used, next slot in 1m", st)
	}
	if own, err := c.RateLimitGet(t.Context(), "key_rated", false); err != nil || own.Limit.Enabled() || own.PerKey {
		t.Fatalf("RateLimitGet(per kind) = %+v, %v; want no limit", own, err)
	}

	ctx := kiln.WithActor(t.Context(), kiln.Actor{Name: "ops", Role: "operator"})
	over := kiln.RateLimit{Limit: 1, Period: time.Second, Burst: 2}
	if err := c.RateLimitSet(ctx, "key_rated", true, over); err != nil {
		t.Fatal(err)
	}
	// Each key's debt (1 m) is cut to the new limit's full bucket (3 s):
	// nothing starts until the clock moves; then each key's last 2.
	clock.Advance(3 * time.Second)
	testutil.Eventually(t, "every job to have run", func() bool { return done.Load() == 6 })
	list, err := c.RateLimitList(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !list[0].PerKey || list[0].Limit != over || list[0].Default != def || list[0].Used != 2 {
		t.Fatalf("RateLimitList = %+v; want the per-key override in force, 2 used", list)
	}
	if err := c.RateLimitRemove(ctx, "key_rated", true); err != nil {
		t.Fatal(err)
	}
	entries, err := c.AuditList(t.Context(), &kiln.AuditListParams{Actor: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		var detail struct {
			PerKey bool `json:"per_key"`
		}
		if err := json.Unmarshal(e.Detail, &detail); err != nil {
			t.Fatalf("audit detail %s: %v", e.Detail, err)
		}
		actions = append(actions, fmt.Sprintf("%s %s %v", e.Action, e.Target, detail.PerKey))
	}
	want := []string{kiln.AuditRateLimitRemove + " key_rated true", kiln.AuditRateLimitSet + " key_rated true"}
	if !slices.Equal(actions, want) {
		t.Fatalf("audit entries = %v; want %v", actions, want)
	}
}

// TestAddWorkerRefusesInvalidPartitionRateLimit: AddWorkerSafely checks a
// worker's per-key default as it checks RateLimit.
func TestAddWorkerRefusesInvalidPartitionRateLimit(t *testing.T) {
	t.Parallel()
	var done atomic.Int64
	err := kiln.AddWorkerSafely(kiln.NewWorkers(), kiln.Worker[keyRatedArgs](keyRatedWorker{
		limit: kiln.RateLimit{Limit: 1}, done: &done}))
	var ve *kiln.ValidationError
	if !errors.As(err, &ve) || ve.Field != "period" {
		t.Fatalf("AddWorkerSafely = %v; want a ValidationError of period", err)
	}
}
