package kiln_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
)

// TestRecurringRuns checks an entry's history: a run that took a minute,
// an occurrence skipped by the overlap policy while it ran (with why), and
// the next run, newest first, with durations and lateness from the clock.
func TestRecurringRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	w := newBlockingWorker()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	def := kiln.RecurringJob{ID: "slow", Schedule: "@every 1m", Args: testArgs{}}
	cfg := recurringConfig(openStore(t, ""), workers, clock, def)
	cfg.LeaseDuration = time.Hour // the clock moves a minute while the first run runs
	c := startClient(t, cfg)
	first := testBase.Truncate(time.Minute).Add(time.Minute)
	clock.Set(first)
	<-w.started
	clock.Set(first.Add(time.Minute))
	waitNextRun(t, c, "slow", first.Add(2*time.Minute))
	close(w.release)
	clienttest.WaitState(t, c, recurringJobs(t, c, "slow")[0].ID, kiln.JobStateCompleted)
	clock.Set(first.Add(2*time.Minute + 30*time.Second)) // 30 s late
	second := waitJobs(t, c, "slow", 2)[1]
	clienttest.WaitState(t, c, second.ID, kiln.JobStateCompleted)

	runs, err := c.RecurringRuns(ctx, "slow", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 {
		t.Fatalf("%d runs, want 3: %+v", len(runs), runs)
	}
	if r := runs[0]; !r.At.Equal(first.Add(2*time.Minute)) || r.JobID != second.ID || r.State != kiln.JobStateCompleted ||
		r.Lateness != 30*time.Second || r.Duration != 0 || r.Skipped != "" || r.Attempt != 1 {
		t.Errorf("newest run %+v: want the second job, completed at once, 30 s late", r)
	}
	if r := runs[1]; !r.At.Equal(first.Add(time.Minute)) || r.JobID != 0 || r.Skipped != kiln.RecurringSkipOverlap ||
		r.Policy != string(kiln.OverlapSkip) || r.Count != 1 || !r.Through.Equal(r.At) {
		t.Errorf("middle run %+v: want the occurrence skipped for overlap", r)
	}
	if r := runs[2]; !r.At.Equal(first) || r.State != kiln.JobStateCompleted || r.Duration != time.Minute ||
		r.Lateness != 0 || r.StartedAt == nil || r.FinishedAt == nil {
		t.Errorf("oldest run %+v: want the first job, a minute long, on time", r)
	}
	if got, err := c.RecurringRuns(ctx, "slow", 1); err != nil || len(got) != 1 || got[0].JobID != second.ID {
		t.Errorf("limit 1: %+v, %v", got, err)
	}
	if _, err := c.RecurringRuns(ctx, "nope", 0); !errors.Is(err, kiln.ErrNotFound) {
		t.Errorf("unknown entry: %v, want not found", err)
	}
}
