package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/httpapi"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// heldArgs are the args of kind "held", whose worker runs at most 2 jobs
// per process, 3 in the cluster and 1 per partition key, each until the
// test ends.
type heldArgs struct{}

func (heldArgs) Kind() string { return "held" }

type heldWorker struct {
	kiln.WorkerDefaults[heldArgs]
	started, release chan struct{}
}

func (heldWorker) MaxConcurrency() int          { return 2 }
func (heldWorker) ClusterMaxConcurrency() int   { return 3 }
func (heldWorker) PartitionMaxConcurrency() int { return 1 }
func (w heldWorker) Work(ctx context.Context, _ *kiln.Job[heldArgs]) error {
	w.started <- struct{}{}
	select {
	case <-w.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestConcurrency: kiln concurrency list prints the concurrency limits of
// the kinds this binary runs (none), or, with --api, those a process that
// runs the workers declares, with their use, as a table or as the HTTP
// API's JSON; a bad --api is a usage error.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	if r := mustRun(t, "concurrency", "list", "--database", db); !strings.Contains(r.stdout, "No kind this binary runs has a concurrency limit") {
		t.Errorf("list without --api:\n%s", r.stdout)
	}
	if r := mustRun(t, "concurrency", "ls", "--json", "--database", db); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("list --json without --api:\n%s", r.stdout)
	}
	wantFail(t, runKiln(t, "concurrency", "list", "--api", "127.0.0.1:8080", "--database", db), exitUsage, "want an http:// or https:// URL")

	// A process that runs the held kind, and its HTTP API.
	st, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := heldWorker{started: make(chan struct{}, 10), release: make(chan struct{})}
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.Worker[heldArgs](w))
	c, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: slog.New(slog.DiscardHandler),
		FetchPollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop client: %v", err)
		}
	})
	t.Cleanup(func() { close(w.release) })
	srv := httptest.NewServer(httpapi.New(c, &httpapi.Options{Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	for _, key := range []string{"b", "a", "a"} {
		if _, err := c.Enqueue(t.Context(), heldArgs{}, &kiln.EnqueueOpts{Partition: key}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		testutil.Receive(t, w.started, "2 held jobs to start", nil)
	}

	r := mustRun(t, "concurrency", "list", "--api", srv.URL+"/", "--database", db)
	got := strings.Join(strings.Fields(r.stdout), " ")
	if want := "held 2 2 of 2 2 of 3 1 (2 keys running) a 1, b 1"; !strings.Contains(got, want) {
		t.Errorf("list --api has no line %q:\n%s", want, r.stdout)
	}
	r = mustRun(t, "concurrency", "list", "--api", srv.URL, "--json", "--database", db)
	var views []*httpapi.ConcurrencyLimitView
	if err := json.Unmarshal([]byte(r.stdout), &views); err != nil || len(views) != 1 || views[0].Kind != "held" ||
		views[0].Running != 2 || views[0].RunningHere != 2 || views[0].Keys != 2 || len(views[0].BusiestKeys) != 2 {
		t.Errorf("list --api --json: %v\n%s", err, r.stdout)
	}
	wantFail(t, runKiln(t, "concurrency", "list", "--api", srv.URL+"/nowhere", "--database", db), exitError, "404")
}
