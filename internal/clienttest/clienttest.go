// Package clienttest gives the tests of kiln and of packages built on
// kiln.Client (httpapi, metrics) a client on a fresh SQLite store, with
// loops fast enough for tests, ways to wait for a job's state or event
// without sleeping blindly (through package testutil), and an Enqueue that
// fails the test on error.
package clienttest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// Encryptor returns an encryptor with one 32-byte key, ID "k1" (every byte
// 1), and a 32-byte hash key (every byte 2). It fails the test if
// kiln.NewEncryptor refuses them.
func Encryptor(t testing.TB) *kiln.Encryptor {
	t.Helper()
	enc, err := kiln.NewEncryptor(kiln.EncryptorConfig{
		Keys:    []kiln.EncryptionKey{{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}},
		HashKey: bytes.Repeat([]byte{2}, 32),
	})
	if err != nil {
		t.Fatalf("new encryptor: %v", err)
	}
	return enc
}

// New returns a client with workers on a new migrated SQLite store in a
// temporary directory, reading time from clock, with one worker on the
// default queue when serial (so attempts run one at a time) and 10 ms
// polls. With start, the client is started and stopped (cancelling its
// jobs) when the test ends; the store is closed then too.
func New(t testing.TB, workers *kiln.Workers, clock kiln.Clock, start, serial bool) *kiln.Client {
	t.Helper()
	return NewOn(t, OpenStore(t), workers, clock, start, serial)
}

// OpenStore returns a new migrated SQLite store in a temporary directory,
// closed when the test ends.
func OpenStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// NewOn is New on the store st (from OpenStore, or a PostgreSQL store),
// for tests that use the store too, for example to close it and see how a
// caller of the client reports the failure.
func NewOn(t testing.TB, st store.Store, workers *kiln.Workers, clock kiln.Clock, start, serial bool) *kiln.Client {
	t.Helper()
	cfg := &kiln.Config{
		Store: st, Workers: workers, Clock: clock, Logger: slog.New(slog.DiscardHandler),
		FetchPollInterval: 10 * time.Millisecond, CancelPollInterval: 10 * time.Millisecond,
		ScheduleInterval: 10 * time.Millisecond, LeaderTTL: 300 * time.Millisecond,
		// Tests hold jobs in their workers (httpapi's blockArgs runs until
		// cancelled) while they wait, for up to testutil.Timeout (three
		// minutes): with JobTimeout's default minute a held job could time
		// out on a loaded machine, and end cancelled or failed under the
		// test. Tests of timeouts set a worker's Timeout.
		JobTimeout: -1,
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

// WaitState polls c until job id is in state, with [testutil.Eventually]'s
// deadline, and returns the job. It fails the test if the job cannot be
// read or the time runs out, saying what state the job was in.
func WaitState(t testing.TB, c *kiln.Client, id int64, state kilntype.JobState) *kilntype.JobRow {
	t.Helper()
	var row *kilntype.JobRow
	testutil.EventuallyNil(t, fmt.Sprintf("job %d to be %s", id, state), func() error {
		var err error
		if row, err = c.JobGet(context.Background(), id); err != nil {
			t.Fatalf("get job %d: %v", id, err)
		}
		if row.State != state {
			return fmt.Errorf("job %d is %s (last error %q)", id, row.State, row.LastError)
		}
		return nil
	})
	return row
}

// WaitEvent returns the first event of kind for job id on events (from
// [kiln.Client.Subscribe]), dropping the others, and fails the test if none
// comes within [testutil.Timeout].
func WaitEvent(t testing.TB, events <-chan *kiln.Event, kind kiln.EventKind, id int64) *kiln.Event {
	t.Helper()
	return testutil.Receive(t, events, fmt.Sprintf("a %s event for job %d", kind, id), func(ev *kiln.Event) bool {
		return ev.Kind == kind && ev.Job.ID == id
	})
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

// WaitBulk polls c until bulk operation id is done (completed, cancelled
// or failed), with [testutil.Eventually]'s deadline, and returns it.
func WaitBulk(t testing.TB, c *kiln.Client, id int64) *kiln.BulkOperation {
	t.Helper()
	var op *kiln.BulkOperation
	testutil.EventuallyNil(t, fmt.Sprintf("bulk operation %d to end", id), func() error {
		var err error
		if op, err = c.JobBulkGet(context.Background(), id); err != nil {
			t.Fatalf("get bulk operation %d: %v", id, err)
		}
		if !op.Done() {
			return fmt.Errorf("bulk operation %d is %s (cursor %d of %d..%d)", id, op.State, op.Cursor, op.FirstID, op.LastID)
		}
		return nil
	})
	return op
}
