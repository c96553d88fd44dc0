package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// ratedArgs are the args of kind "rated", whose worker completes and
// declares a default rate limit of 1 per hour plus 1.
type ratedArgs struct{}

func (ratedArgs) Kind() string { return "rated" }

type ratedWorker struct{ kiln.WorkerDefaults[ratedArgs] }

func (ratedWorker) Work(context.Context, *kiln.Job[ratedArgs]) error { return nil }
func (ratedWorker) RateLimit() kiln.RateLimit {
	return kiln.RateLimit{Limit: 1, Period: time.Hour, Burst: 1}
}

// eachStore runs fn on a fresh SQLite store and, when
// $KILN_TEST_POSTGRES_URL is set, on a fresh PostgreSQL schema whose
// budgets are kept on the callers' clock (CallerClock), as SQLite's are.
func eachStore(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		fn(t, clienttest.OpenStore(t))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		st, err := postgres.Open(context.Background(), pgtest.URL(t),
			&postgres.Options{Schema: pgtest.Schema(t), MaxConns: 4, Migrate: true, CallerClock: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		fn(t, st)
	})
}

// newEnvOn returns an env over a client on st with workers for echo and
// rated; start starts the client (stopped when the test ends).
func newEnvOn(t *testing.T, st store.Store, opts *Options, start bool) *env {
	t.Helper()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[echoArgs]) error { return nil }))
	kiln.AddWorker(workers, ratedWorker{})
	clock := kilntest.NewClock(testBase)
	c, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Clock: clock, Logger: slog.New(slog.DiscardHandler),
		FetchPollInterval: 10 * time.Millisecond, ScheduleInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if start {
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.StopAndCancel(ctx); err != nil {
				t.Errorf("stop client: %v", err)
			}
		})
	}
	if opts == nil {
		opts = &Options{}
	}
	opts.Logger = slog.New(slog.DiscardHandler)
	return &env{t: t, client: c, clock: clock, h: http.StripPrefix("/api", New(c, opts))}
}

// rateLimit returns GET /rate-limits/{kind}.
func (e *env) rateLimit(kind string) *RateLimitView {
	e.t.Helper()
	var v RateLimitView
	e.call("GET", "/rate-limits/"+kind, "", http.StatusOK, &v)
	return &v
}

// TestRateLimits: the rate limits' routes list, read, set and remove
// limits with the Client's rules, show the budget in use, and refuse bad
// input with a 400 naming the field, on both stores alike.
func TestRateLimits(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		e := newEnvOn(t, st, nil, true)
		// Two of three jobs start at once (Burst 1); the third waits an hour.
		var ids []int64
		for range 3 {
			ids = append(ids, e.enqueue(`{"kind":"rated"}`).ID)
		}
		testutil.EventuallyNil(t, "two rated jobs to complete", func() error {
			done := 0
			for _, id := range ids {
				if j, err := e.client.JobGet(t.Context(), id); err == nil && j.State == kilntype.JobStateCompleted {
					done++
				}
			}
			if done != 2 {
				return fmt.Errorf("%d completed", done)
			}
			return nil
		})
		v := e.rateLimit("rated")
		def := &RateLimitBudget{Limit: 1, Period: "1h0m0s", PeriodSeconds: 3600, Burst: 1}
		if v.Kind != "rated" || v.Source != "code" || *v.Limit != *def || *v.Default != *def || v.Override != nil ||
			v.Capacity != 2 || v.Used != 2 || v.Remaining != 0 || !v.At.Equal(testBase) ||
			!v.NextSlot.Equal(testBase.Add(time.Hour)) || v.NextSlot.Location() != time.UTC {
			t.Fatalf("GET /rate-limits/rated = %+v", v)
		}

		var set RateLimitView
		e.call("PUT", "/rate-limits/rated", `{"limit":10,"period":"1m","burst":2}`, http.StatusOK, &set)
		// The debt (2 h) is cut to the new limit's full bucket: 3 × 6 s.
		if set.Source != "runtime" || set.Override == nil || *set.Limit != (RateLimitBudget{10, "1m0s", 60, 2}) ||
			*set.Default != *def || set.UpdatedAt == nil || !set.UpdatedAt.Equal(testBase) || set.Capacity != 3 ||
			set.Used != 3 || set.Remaining != 0 || !set.NextSlot.Equal(testBase.Add(6*time.Second)) {
			t.Fatalf("PUT answered %+v", set)
		}
		// Any kind, with or without a worker; a period in seconds; a kind
		// with a slash, escaped.
		e.call("PUT", "/rate-limits/nobody", `{"limit":5,"period":90}`, http.StatusOK, &set)
		if set.Kind != "nobody" || *set.Limit != (RateLimitBudget{5, "1m30s", 90, 0}) || set.Default != nil || set.Used != 0 ||
			set.Remaining != 1 || !set.NextSlot.Equal(set.At) {
			t.Fatalf("PUT /rate-limits/nobody answered %+v", set)
		}
		// Seconds with a fraction that binary floating point does not
		// hold (1.001 is 1.000999999…) are the period written, rounded to
		// the nanosecond: whole microseconds, as a period must be.
		e.call("PUT", "/rate-limits/nobody", `{"limit":1,"period":1.001}`, http.StatusOK, &set)
		if set.Limit == nil || set.Limit.Period != "1.001s" {
			t.Fatalf("PUT /rate-limits/nobody with a period of 1.001 seconds answered %+v", set)
		}
		e.call("PUT", "/rate-limits/a%2Fb", `{"limit":1,"period":"1s","per_key":false}`, http.StatusOK, &set)
		if set.Kind != "a/b" {
			t.Fatalf("PUT /rate-limits/a%%2Fb set kind %q", set.Kind)
		}
		var list struct {
			RateLimits []*RateLimitView `json:"rate_limits"`
			Truncated  bool
		}
		e.call("GET", "/rate-limits", "", http.StatusOK, &list)
		var kinds []string
		for _, v := range list.RateLimits {
			kinds = append(kinds, v.Kind+":"+v.Source)
		}
		if got := strings.Join(kinds, " "); got != "a/b:runtime nobody:runtime rated:runtime" || list.Truncated {
			t.Fatalf("GET /rate-limits = %s (truncated %v)", got, list.Truncated)
		}

		var del RateLimitView
		e.call("DELETE", "/rate-limits/rated", "", http.StatusOK, &del)
		if del.Source != "code" || *del.Limit != *def || del.Override != nil {
			t.Fatalf("DELETE answered %+v; want the default in force", del)
		}
		e.call("DELETE", "/rate-limits/nobody?per_key=false", "", http.StatusOK, &del)
		if del.Source != "none" || del.Limit != nil || del.Capacity != 0 || del.Remaining != 0 {
			t.Fatalf("DELETE /rate-limits/nobody answered %+v; want no limit", del)
		}
		e.fail("DELETE", "/rate-limits/nobody", "", http.StatusNotFound, "", "not found")
		if v := e.rateLimit("never.set"); v.Source != "none" || v.Limit != nil || v.Used != 0 {
			t.Fatalf("GET of a kind without a limit = %+v", v)
		}

		// A per-key limit, apart from the kind's own.
		e.call("PUT", "/rate-limits/rated", `{"limit":10,"period":"1m","per_key":true}`, http.StatusOK, &set)
		if !set.PerKey || set.Source != "runtime" || *set.Limit != (RateLimitBudget{10, "1m0s", 60, 0}) || set.Default != nil {
			t.Fatalf("PUT per_key answered %+v", set)
		}
		e.call("DELETE", "/rate-limits/rated?per_key=true", "", http.StatusOK, &del)
		if !del.PerKey || del.Source != "none" || del.Limit != nil {
			t.Fatalf("DELETE per_key answered %+v; want no limit", del)
		}

		long := strings.Repeat("k", 256)
		for _, c := range []struct{ body, field, msg string }{
			{`{"limit":0,"period":"1m"}`, "limit", "0 sets no limit"},
			{`{"limit":-1,"period":"1m"}`, "limit", "out of range"},
			{`{"limit":1073741825,"period":"1m"}`, "limit", "out of range"},
			{`{"limit":1e20,"period":"1m"}`, "limit", "want a whole number"},
			{`{"limit":1.5,"period":"1m"}`, "limit", "want a whole number"},
			{`{"limit":"10","period":"1m"}`, "limit", "want a whole number"},
			{`{"period":"1m"}`, "limit", "missing"},
			{`{"limit":10}`, "period", "missing"},
			{`{"limit":10,"period":null}`, "period", "missing"},
			{`{"limit":10,"period":"soon"}`, "period", "invalid duration"},
			{`{"limit":10,"period":-5}`, "period", "negative"},
			{`{"limit":10,"period":0}`, "period", "out of range"},
			{`{"limit":10,"period":"100ns"}`, "period", "out of range"},
			{`{"limit":10,"period":"367d"}`, "period", "invalid duration"},
			{`{"limit":10,"period":"8785h"}`, "period", "out of range"},
			{`{"limit":10,"period":1e30}`, "period", "too long"},
			{`{"limit":10,"period":"9999999999h"}`, "period", "invalid duration"},
			{`{"limit":10,"period":"1m","burst":-1}`, "burst", "out of range"},
			{`{"limit":10,"period":"1m","burst":1073741825}`, "burst", "out of range"},
			{`{"limit":10,"period":"1m","x":1}`, "x", "unknown field"},
			{`[]`, "", "want a JSON object"},
			{`{"limit":10,"period":"1m\u0000"}`, "period", ""},
		} {
			e.fail("PUT", "/rate-limits/rated", c.body, http.StatusBadRequest, c.field, c.msg)
		}
		for _, kind := range []string{"%FF", "%00", "tab%09", long} {
			e.fail("GET", "/rate-limits/"+kind, "", http.StatusBadRequest, "kind", "")
			e.fail("PUT", "/rate-limits/"+kind, `{"limit":1,"period":"1s"}`, http.StatusBadRequest, "kind", "")
			e.fail("DELETE", "/rate-limits/"+kind, "", http.StatusBadRequest, "kind", "")
		}
		e.fail("GET", "/rate-limits/rated?per_key=maybe", "", http.StatusBadRequest, "per_key", "want true or false")
		e.fail("GET", "/rate-limits?kind=x", "", http.StatusBadRequest, "kind", "takes none")
		e.fail("PUT", "/rate-limits/rated?per_key=true", `{"limit":1,"period":"1s"}`, http.StatusBadRequest, "per_key", "takes none")
		// Nothing refused was stored.
		e.call("GET", "/rate-limits", "", http.StatusOK, &list)
		if len(list.RateLimits) != 2 || list.RateLimits[0].Kind != "a/b" || list.RateLimits[1].Source != "code" {
			t.Fatalf("after the refusals: %+v", list.RateLimits)
		}
	})
}

// TestRateLimitsReadOnly: in read-only mode the limits can be read, not
// set or removed.
func TestRateLimitsReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, clienttest.OpenStore(t), &Options{ReadOnly: true}, false)
	e.fail("PUT", "/rate-limits/rated", `{"limit":1,"period":"1s"}`, http.StatusForbidden, "", "read-only")
	e.fail("DELETE", "/rate-limits/rated", "", http.StatusForbidden, "", "read-only")
	if v := e.rateLimit("rated"); v.Source != "code" {
		t.Fatalf("GET in read-only mode = %+v", v)
	}
}
