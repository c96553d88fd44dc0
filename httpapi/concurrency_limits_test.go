package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/store"
)

// keyedArgs are the args of kind "keyed", whose worker runs at most 2 jobs
// per process, 3 in the cluster and 1 per partition key, each until the
// test ends.
type keyedArgs struct{}

func (keyedArgs) Kind() string { return "keyed" }

type keyedWorker struct {
	kiln.WorkerDefaults[keyedArgs]
	started chan struct{}
	release chan struct{}
}

func (keyedWorker) MaxConcurrency() int          { return 2 }
func (keyedWorker) ClusterMaxConcurrency() int   { return 3 }
func (keyedWorker) PartitionMaxConcurrency() int { return 1 }
func (w keyedWorker) Work(ctx context.Context, _ *kiln.Job[keyedArgs]) error {
	w.started <- struct{}{}
	select {
	case <-w.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestConcurrencyLimits: GET /concurrency-limits lists the concurrency
// limits the serving process's workers declare, with their use in every
// process, in this one and per key, as the OpenAPI document says, on both
// stores alike; an empty list for a process without limits; unknown query
// parameters refused.
func TestConcurrencyLimits(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		// No limited kind: an empty list.
		e := newEnvOn(t, st, nil, false)
		var list ConcurrencyLimitList
		e.call("GET", "/concurrency-limits", "", http.StatusOK, &list)
		if list.ConcurrencyLimits == nil || len(list.ConcurrencyLimits) != 0 || list.Truncated {
			t.Fatalf("without limits: %+v", list)
		}
		e.fail("GET", "/concurrency-limits?kind=x", "", http.StatusBadRequest, "kind", "unknown")

		w := keyedWorker{started: make(chan struct{}, 10), release: make(chan struct{})}
		workers := kiln.NewWorkers()
		kiln.AddWorker(workers, kiln.Worker[keyedArgs](w))
		c, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Clock: kilntest.NewClock(testBase),
			Logger: slog.New(slog.DiscardHandler), FetchPollInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			close(w.release)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.StopAndCancel(ctx); err != nil {
				t.Errorf("stop client: %v", err)
			}
		})
		e = &env{t: t, client: c, h: http.StripPrefix("/api", New(c, &Options{Logger: slog.New(slog.DiscardHandler)}))}
		// Keys b and a start (MaxConcurrency 2); a's second job waits.
		for _, key := range []string{"b", "a", "a"} {
			e.enqueue(fmt.Sprintf(`{"kind":"keyed","partition":%q}`, key))
		}
		for range 2 {
			testutil.Receive(t, w.started, "2 keyed jobs to start", nil)
		}
		e.call("GET", "/concurrency-limits", "", http.StatusOK, &list)
		want := ConcurrencyLimitList{ConcurrencyLimits: []*ConcurrencyLimitView{{Kind: "keyed", MaxConcurrency: 2,
			ClusterMaxConcurrency: 3, PartitionMaxConcurrency: 1, Running: 2, RunningHere: 2, Keys: 2,
			BusiestKeys: []kiln.KeyRunning{{Key: "a", Running: 1}, {Key: "b", Running: 1}}}}}
		if !reflect.DeepEqual(list, want) {
			t.Fatalf("GET /concurrency-limits = %+v; want %+v", *list.ConcurrencyLimits[0], *want.ConcurrencyLimits[0])
		}
	})
}
