package kiln_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/kilntype"
)

// TestQueuePauseAcrossProcesses pauses a queue through one client, checks
// that its job waits while another queue's job runs, and resumes it through
// a second client on the same file, as another process (the CLI) would.
func TestQueuePauseAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kiln.db")
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	cfg := fastConfig(openStore(t, path), workers, newClock())
	cfg.Queues = map[string]kiln.QueueConfig{"default": {MaxWorkers: 2}, "other": {MaxWorkers: 2}}
	c := startClient(t, cfg)

	if err := c.QueuePause(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if err := c.QueuePause(ctx, "default"); err != nil { // pausing twice is harmless
		t.Fatal(err)
	}
	paused := clienttest.Enqueue(t, c, testArgs{N: 1}, nil) // enqueues still work
	other := clienttest.Enqueue(t, c, testArgs{N: 2}, &kiln.EnqueueOpts{Queue: "other"})
	clienttest.WaitState(t, c, other.ID, kilntype.JobStateCompleted)
	// The paused queue's fetcher was woken by the enqueue and polls every
	// 10 ms: it had its chances while the other job ran.
	if row, err := c.JobGet(ctx, paused.ID); err != nil || row.State != kilntype.JobStateAvailable {
		t.Fatalf("job of the paused queue: %+v, %v; want available", row, err)
	}
	rows, err := c.QueueList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Name != "default" || !rows[0].Paused || rows[0].Available != 1 ||
		rows[0].OldestAvailableAt == nil || !rows[0].OldestAvailableAt.Equal(paused.ScheduledAt) {
		t.Fatalf("QueueList = %+v, want default paused with its job available", rows)
	}

	// Another process, with a client that only controls jobs, resumes it.
	admin, err := kiln.NewClient(&kiln.Config{Store: openStore(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.QueueResume(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	clienttest.WaitState(t, c, paused.ID, kilntype.JobStateCompleted)
	rows, err = admin.QueueList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Paused || rows[0].Available != 0 || rows[0].UpdatedAt == nil {
		t.Fatalf("QueueList after resume = %+v, want default resumed and empty", rows)
	}
}

func TestQueuePauseRejectsBadNames(t *testing.T) {
	t.Parallel()
	c, err := kiln.NewClient(&kiln.Config{Store: openStore(t, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "two words"} {
		if err := c.QueuePause(context.Background(), name); err == nil {
			t.Errorf("QueuePause(%q) succeeded", name)
		}
		if err := c.QueueResume(context.Background(), name); err == nil {
			t.Errorf("QueueResume(%q) succeeded", name)
		}
	}
}
