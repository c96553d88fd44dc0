package kiln_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store"
)

type cappedArgs struct{ N int }

func (cappedArgs) Kind() string { return "capped" }

// cappedWorker runs cappedArgs jobs, at most 2 per process and 4 in the
// cluster, each until release is closed.
type cappedWorker struct {
	kiln.WorkerDefaults[cappedArgs]
	started chan int64
	release chan struct{}
}

func (cappedWorker) MaxConcurrency() int        { return 2 }
func (cappedWorker) ClusterMaxConcurrency() int { return 4 }

func (w cappedWorker) Work(ctx context.Context, job *kiln.Job[cappedArgs]) error {
	w.started <- job.ID
	select {
	case <-w.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestConcurrencyLimits: Client.ConcurrencyLimits lists, by kind, the
// kinds whose workers declare a concurrency limit, with their running jobs
// in every process (read from the store), in the process that answers,
// and per partition key (the busiest first, ties in key order); kinds
// without a limit are left out; a client whose workers declare none shows
// those the started client published in the server registry.
func TestConcurrencyLimits(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		keyed := newKeyedWorker(2)
		capped := cappedWorker{started: make(chan int64, 10), release: make(chan struct{})}
		workers := func() *kiln.Workers {
			ws := kiln.NewWorkers()
			kiln.AddWorker(ws, kiln.Worker[tenantArgs](keyed))
			kiln.AddWorker(ws, kiln.Worker[cappedArgs](capped))
			kiln.AddWorker(ws, kiln.WorkFunc(func(context.Context, *kiln.Job[otherArgs]) error { return nil }))
			return ws
		}
		cfg := fastConfigFor(st, workers(), newClock())
		cfg.Queues = map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: 20}}
		c := startClient(t, cfg)
		t.Cleanup(func() { close(capped.release) })
		// A client on the same store that runs nothing: its RunningHere
		// are 0.
		idle, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers()})
		if err != nil {
			t.Fatal(err)
		}

		// Keys a and c fill their 2 slots, b runs its 1 job; 2 of the 3
		// capped jobs run (MaxConcurrency 2 in this process).
		var ids []int64
		for i, key := range []string{"a", "a", "a", "b", "c", "c", "c"} {
			ids = append(ids, clienttest.Enqueue(t, c, tenantArgs{Tenant: key, N: i}, nil).ID)
		}
		for i := range 3 {
			clienttest.Enqueue(t, c, cappedArgs{N: i}, nil)
		}
		for range 5 {
			testutil.Receive(t, keyed.started, "the jobs of keys a, b and c to start", nil)
		}
		for range 2 {
			testutil.Receive(t, capped.started, "2 capped jobs to start", nil)
		}
		t.Cleanup(func() {
			for _, id := range ids {
				keyed.finish(id)
			}
		})

		want := []*kiln.ConcurrencyLimitState{
			{Kind: "capped", MaxConcurrency: 2, ClusterMaxConcurrency: 4, Running: 2, RunningHere: 2, BusiestKeys: []kiln.KeyRunning{}},
			{Kind: "tenant_task", PartitionMaxConcurrency: 2, Running: 5, RunningHere: 5, Keys: 3,
				BusiestKeys: []kiln.KeyRunning{{Key: "a", Running: 2}, {Key: "c", Running: 2}, {Key: "b", Running: 1}}},
		}
		got, err := c.ConcurrencyLimits(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ConcurrencyLimits =\n%s\nwant\n%s", fmtLimits(got), fmtLimits(want))
		}
		got, err = idle.ConcurrencyLimits(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			w.RunningHere = 0
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ConcurrencyLimits of a client that runs nothing =\n%s\nwant\n%s", fmtLimits(got), fmtLimits(want))
		}

		// A client whose workers declare no limit shows those the started
		// client published in the server registry, once it has.
		plain := kiln.NewWorkers()
		kiln.AddWorker(plain, kiln.WorkFunc(func(context.Context, *kiln.Job[otherArgs]) error { return nil }))
		none, err := kiln.NewClient(&kiln.Config{Store: st, Workers: plain})
		if err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, "the limits published by the started client", func() bool {
			got, err = none.ConcurrencyLimits(t.Context())
			return err == nil && reflect.DeepEqual(got, want)
		})
		// The store's error.
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := none.ConcurrencyLimits(ctx); err == nil {
			t.Error("canceled context: no error")
		}
	})
}

// TestDeclaredLimitsOfOtherProcesses: a client shows the limits declared
// for kinds it has no worker for as the live processes published them
// (ServerRow.Limits), those of the process started last when processes
// disagree; its own workers' declarations win over any published; rate
// limits' defaults likewise; no limits anywhere is nil.
func TestDeclaredLimitsOfOtherProcesses(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		ws := kiln.NewWorkers()
		capped := cappedWorker{started: make(chan int64, 1), release: make(chan struct{})}
		kiln.AddWorker(ws, kiln.Worker[cappedArgs](capped))
		c, err := kiln.NewClient(&kiln.Config{Store: st, Workers: ws})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.ConcurrencyLimits(t.Context()); err != nil || len(got) != 1 || got[0].Kind != "capped" {
			t.Fatalf("before any server: %v, %v; want capped only", got, err)
		}
		rate := kiln.RateLimit{Limit: 5, Period: time.Minute}
		for i, l := range []kiln.KindLimits{
			{Kind: "remote", ClusterMaxConcurrency: 3, RateLimit: &kiln.RateLimit{Limit: 1, Period: time.Second}},
			{Kind: "remote", ClusterMaxConcurrency: 7, PartitionMaxConcurrency: 1, RateLimit: &rate},
			{Kind: "capped", MaxConcurrency: 99},
		} {
			row := &kiln.ServerRow{ID: fmt.Sprintf("other-%d", i), Host: "h", PID: i, StartedAt: testBase.Add(time.Duration(i) * time.Minute),
				RefreshedAt: testBase, Limits: []kiln.KindLimits{l}}
			if err := st.ServerUpsert(t.Context(), &store.ServerUpsertParams{Row: row}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := c.ConcurrencyLimits(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := []*kiln.ConcurrencyLimitState{
			{Kind: "capped", MaxConcurrency: 2, ClusterMaxConcurrency: 4, BusiestKeys: []kiln.KeyRunning{}},
			{Kind: "remote", ClusterMaxConcurrency: 7, PartitionMaxConcurrency: 1, BusiestKeys: []kiln.KeyRunning{}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ConcurrencyLimits =\n%s\nwant\n%s", fmtLimits(got), fmtLimits(want))
		}
		if rs, err := c.RateLimitGet(t.Context(), "remote", false); err != nil || rs.Default != rate || rs.Limit != rate {
			t.Errorf("RateLimitGet(remote) = %+v, %v; want the default %+v of the process started last", rs, err, rate)
		}
		list, err := c.RateLimitList(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, r := range list {
			kinds = append(kinds, fmt.Sprintf("%s/%v/%v", r.Kind, r.PerKey, r.Default))
		}
		if w := fmt.Sprintf("remote/false/%v", rate); !slices.Contains(kinds, w) {
			t.Errorf("RateLimitList = %v; want %s", kinds, w)
		}
	})
}

// fmtLimits formats concurrency limits for messages.
func fmtLimits(list []*kiln.ConcurrencyLimitState) string {
	var b strings.Builder
	for _, s := range list {
		fmt.Fprintf(&b, "\t%+v\n", *s)
	}
	return b.String()
}
