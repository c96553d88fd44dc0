package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/store"
)

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

		c, started := clienttest.StartHeld(t, st, kilntest.NewClock(testBase))
		e = &env{t: t, client: c, h: http.StripPrefix("/api", New(c, &Options{Logger: slog.New(slog.DiscardHandler)}))}
		// Keys b and a start (MaxConcurrency 2); a's second job waits.
		for _, key := range []string{"b", "a", "a"} {
			e.enqueue(fmt.Sprintf(`{"kind":"held","partition":%q}`, key))
		}
		for range 2 {
			testutil.Receive(t, started, "2 held jobs to start", nil)
		}
		e.call("GET", "/concurrency-limits", "", http.StatusOK, &list)
		want := ConcurrencyLimitList{ConcurrencyLimits: []*ConcurrencyLimitView{{Kind: "held", MaxConcurrency: 2,
			ClusterMaxConcurrency: 3, PartitionMaxConcurrency: 1, Running: 2, RunningHere: 2, Keys: 2,
			BusiestKeys: []kiln.KeyRunning{{Key: "a", Running: 1}, {Key: "b", Running: 1}}}}}
		if !reflect.DeepEqual(list, want) {
			t.Fatalf("GET /concurrency-limits = %+v; want %+v", *list.ConcurrencyLimits[0], *want.ConcurrencyLimits[0])
		}
		// The process publishes its workers' limits with its server row.
		wantLimits := []KindLimitsView{{Kind: "held", MaxConcurrency: 2, ClusterMaxConcurrency: 3, PartitionMaxConcurrency: 1}}
		testutil.EventuallyNil(t, "the server row with its limits", func() error {
			var servers struct{ Servers []*ServerView }
			e.call("GET", "/servers", "", http.StatusOK, &servers)
			if len(servers.Servers) != 1 || !reflect.DeepEqual(servers.Servers[0].Limits, wantLimits) {
				return fmt.Errorf("GET /servers = %+v; want one server with limits %+v", servers.Servers, wantLimits)
			}
			return nil
		})
	})
}
