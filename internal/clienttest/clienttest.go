// Package clienttest gives the tests of kiln and of packages built on
// kiln.Client (httpapi, metrics) a client on a fresh SQLite store, with
// loops fast enough for tests, a way to wait for a job's state without
// sleeping blindly, and an Enqueue that fails the test on error.
package clienttest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// New returns a client with workers on a new migrated SQLite store in a
// temporary directory, reading time from clock, with one worker on the
// default queue when serial (so attempts run one at a time) and 10 ms
// polls. With start, the client is started and stopped (cancelling its
// jobs) when the test ends; the store is closed then too.
func New(t testing.TB, workers *kiln.Workers, clock kiln.Clock, start, serial bool) *kiln.Client {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := &kiln.Config{
		Store: st, Workers: workers, Clock: clock, Logger: slog.New(slog.DiscardHandler),
		FetchPollInterval: 10 * time.Millisecond, CancelPollInterval: 10 * time.Millisecond,
		ScheduleInterval: 10 * time.Millisecond, LeaderTTL: 300 * time.Millisecond,
	}
	if serial {
		cfg.Queues = map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: 1}}
	}
	c, err := kiln.NewClient(cfg)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	if start {
		if err := c.Start(context.Background()); err != nil {
			t.Fatalf("start client: %v", err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.StopAndCancel(ctx); err != nil {
				t.Errorf("stop client: %v", err)
			}
		})
	}
	return c
}

// WaitState polls c every 5 ms until job id is in state, for up to 60 s
// (room for a loaded machine running tests under -race: a job of 200 ms
// stayed running over 15 s at a load average of 30), and returns the
// job. The deadline only bounds a hung test; it measures nothing. It fails the test if the job cannot be read or the time runs out.
func WaitState(t testing.TB, c *kiln.Client, id int64, state kilntype.JobState) *kilntype.JobRow {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		row, err := c.JobGet(context.Background(), id)
		if err != nil {
			t.Fatalf("get job %d: %v", id, err)
		}
		if row.State == state {
			return row
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %s, want %s (last error %q)", id, row.State, state, row.LastError)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline, not synchronisation
	}
}

// Enqueue enqueues args with opts (nil for the defaults) on c and returns
// the job; it fails the test if Enqueue returns an error.
func Enqueue(t testing.TB, c *kiln.Client, args kiln.JobArgs, opts *kiln.EnqueueOpts) *kilntype.JobRow {
	t.Helper()
	res, err := c.Enqueue(context.Background(), args, opts)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return res.Job
}
