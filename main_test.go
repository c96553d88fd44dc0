package kiln_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	if os.Getenv(traceChildEnv) != "" {
		os.Exit(runTraceChild())
	}
	if os.Getenv(singletonEnv) != "" {
		os.Exit(runSingletonChild())
	}
	pgtest.SkipExamples("ExampleEnqueueTx") // it needs PostgreSQL
	goleak.VerifyTestMain(pgtest.Main(m))
}

// testBase is the fixed time test clocks start at.
var testBase = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// openStore opens a migrated SQLite store in path (a new temporary file if
// empty) and closes it when the test ends.
func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "kiln.db")
	}
	st, err := sqlite.Open(context.Background(), path, &sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fastConfig is a Config whose loops run fast enough for tests.
//
// Its LeaderTTL is the default (10 s), not a short one: a leader steps down
// when a renewal takes over a third of the term, and on a loaded machine
// under -race a write can wait for SQLite's single writer connection longer
// than the 100 ms of a 300 ms term. The leader then flapped, cancelling its
// maintenance passes mid-transaction each time, and a pass longer than the
// bound (resolving a batch of 1000 jobs) never finished. The first election
// is immediate whatever the term, and Stop resigns at once; a test of
// failover after a crash sets its own term.
//
// Its jobs have no timeout and a 10-minute lease. Many tests hold a job in
// its worker (on a channel, or until its context ends) while they wait for
// something else, for up to testutil.Timeout (three minutes). With JobTimeout's
// default minute, a loaded machine let the held job time out: it failed,
// became retryable (or, a worker that ignores the error, completed) and
// freed its slot, and the test's assertions (running, cancelled,
// interrupted, the peak of running jobs, which job starts next) no longer
// held; TestPartitionMaxConcurrencyAcrossProcesses stalled that way. A
// 20 s lease is lost the same way when the renewals of a loaded process
// run late on PostgreSQL (the database's clock), or when a test moves its
// kilntest.Clock past it while a job runs (SQLite: the client's clock).
// Tests of timeouts and leases set their own (a worker's Timeout,
// LeaseDuration).
func fastConfig(st *sqlite.Store, workers *kiln.Workers, clock kiln.Clock) *kiln.Config {
	return &kiln.Config{
		Store:              st,
		Workers:            workers,
		Clock:              clock,
		FetchPollInterval:  10 * time.Millisecond,
		CancelPollInterval: 10 * time.Millisecond,
		ScheduleInterval:   10 * time.Millisecond,
		RescueInterval:     10 * time.Millisecond,
		LeaderTTL:          10 * time.Second,
		RetryPolicy:        fixedBackoff(time.Hour),
		JobTimeout:         -1,
		LeaseDuration:      10 * time.Minute,
	}
}

// fastConfigFor is fastConfig on any store (eachStore's).
func fastConfigFor(st store.Store, workers *kiln.Workers, clock kiln.Clock) *kiln.Config {
	cfg := fastConfig(nil, workers, clock)
	cfg.Store = st
	return cfg
}

// startClient starts a client for cfg and stops it when the test ends.
func startClient(t *testing.T, cfg *kiln.Config) *kiln.Client {
	t.Helper()
	c, err := kiln.NewClient(cfg)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c
}

type fixedBackoff time.Duration

func (f fixedBackoff) Backoff(int) time.Duration { return time.Duration(f) }

// waitEvent is clienttest.WaitEvent: the first event of kind for job id.
var waitEvent = clienttest.WaitEvent

func newClock() *kilntest.Clock { return kilntest.NewClock(testBase) }
