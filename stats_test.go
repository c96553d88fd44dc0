package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
)

// TestStatsAndHistory runs jobs that complete, fail and wait in two
// queues, and checks the counts and the throughput history the client
// reads back.
func TestStatsAndHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newClock()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
		if job.Args.N < 0 {
			return errors.New("negative")
		}
		return nil
	}))
	cfg := fastConfig(openStore(t, ""), workers, clock)
	cfg.Queues = map[string]kiln.QueueConfig{"default": {MaxWorkers: 2}, "other": {MaxWorkers: 2}}
	c := startClient(t, cfg)

	other := &kiln.EnqueueOpts{Queue: "other"}
	completed := []*kiln.JobRow{clienttest.Enqueue(t, c, testArgs{N: 1}, nil), clienttest.Enqueue(t, c, testArgs{N: 2}, nil),
		clienttest.Enqueue(t, c, testArgs{N: 3}, other)}
	retryable := clienttest.Enqueue(t, c, testArgs{N: -1}, nil) // retried in an hour (fastConfig's backoff)
	discarded := clienttest.Enqueue(t, c, testArgs{N: -2}, &kiln.EnqueueOpts{Queue: "other", MaxAttempts: 1})
	clienttest.Enqueue(t, c, testArgs{N: 4}, &kiln.EnqueueOpts{RunIn: time.Hour}) // scheduled
	for _, j := range completed {
		clienttest.WaitState(t, c, j.ID, kiln.JobStateCompleted)
	}
	clienttest.WaitState(t, c, retryable.ID, kiln.JobStateRetryable)
	clienttest.WaitState(t, c, discarded.ID, kiln.JobStateDiscarded)

	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != 6 || st.States[kiln.JobStateCompleted] != 3 || st.States[kiln.JobStateRetryable] != 1 ||
		st.States[kiln.JobStateDiscarded] != 1 || st.States[kiln.JobStateScheduled] != 1 ||
		len(st.States) != 8 || st.States[kiln.JobStateRunning] != 0 {
		t.Errorf("Stats = %+v, want 6 jobs: 3 completed, 1 retryable, 1 discarded, 1 scheduled, 0 in the other states", st)
	}
	if len(st.Queues) != 2 || st.Queues[0].Name != "default" || st.Queues[1].Name != "other" ||
		st.Queues[0].Total != 4 || st.Queues[0].States[kiln.JobStateCompleted] != 2 ||
		st.Queues[0].States[kiln.JobStateScheduled] != 1 || st.Queues[0].States[kiln.JobStateRetryable] != 1 ||
		st.Queues[1].Total != 2 || st.Queues[1].States[kiln.JobStateDiscarded] != 1 ||
		len(st.Queues[1].States) != 8 {
		t.Errorf("Stats.Queues = %+v, want default with 4 jobs, other with 2", st.Queues)
	}

	wantFinished := map[kiln.JobState]int{kiln.JobStateCompleted: 3, kiln.JobStateRetryable: 1, kiln.JobStateDiscarded: 1,
		kiln.JobStateCancelled: 0, kiln.JobStateScheduled: 0, kiln.JobStateAvailable: 0}
	if !maps.Equal(st.Finished, wantFinished) {
		t.Errorf("Stats.Finished = %v, want %v", st.Finished, wantFinished)
	}
	if len(st.Queues) == 2 && (st.Queues[1].Finished[kiln.JobStateCompleted] != 1 || st.Queues[1].Finished[kiln.JobStateDiscarded] != 1) {
		t.Errorf("Finished of queue other = %v, want 1 completed and 1 discarded", st.Queues[1].Finished)
	}

	// The leader records the attempts in the minute of its clock, which
	// stays at testBase, within maintenance.StatsInterval (2 s): one point
	// per minute of the hour before and the minute after, all empty but
	// that minute.
	now := clock.Now()
	minute := now.Truncate(time.Minute)
	var points []kiln.HistoryPoint
	testutil.EventuallyNil(t, "the five outcomes in this minute's point", func() error {
		points, err = c.JobHistory(ctx, now.Add(-time.Hour), now.Add(time.Minute), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(points) != 62 {
			t.Fatalf("%d points, want 62 minutes", len(points))
		}
		if p := points[60]; p.Completed+p.Failed != 5 {
			return fmt.Errorf("point %+v", p)
		}
		return nil
	})
	if !points[0].At.Equal(minute.Add(-time.Hour)) || !points[61].At.Equal(minute.Add(time.Minute)) {
		t.Errorf("points from %v to %v, want from %v to %v", points[0].At, points[61].At, minute.Add(-time.Hour), minute.Add(time.Minute))
	}
	for _, p := range points {
		want := kiln.HistoryPoint{At: p.At}
		if p.At.Equal(minute) {
			want.Completed, want.Failed = 3, 2
		}
		if p != want || p.At.Location() != time.UTC {
			t.Errorf("point %+v, want %+v (UTC)", p, want)
		}
	}
	points, err = c.QueueHistory(ctx, "other", now, now.Add(time.Second), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if want := (kiln.HistoryPoint{At: now.Truncate(time.Hour), Completed: 1, Failed: 1}); len(points) != 1 || points[0] != want {
		t.Errorf("QueueHistory(other) = %+v, want [%+v]", points, want)
	}
}

func TestJobHistoryRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := kiln.NewClient(&kiln.Config{Store: openStore(t, "")})
	if err != nil {
		t.Fatal(err)
	}
	now := testBase
	for _, tc := range []struct {
		what     string
		from, to time.Time
		bucket   time.Duration
	}{
		{"a bucket below a minute", now.Add(-time.Hour), now, 30 * time.Second},
		{"a bucket of a minute and a half", now.Add(-time.Hour), now, 90 * time.Second},
		{"to before from", now, now.Add(-time.Hour), time.Minute},
		{"more than a week of minutes", now.Add(-8 * 24 * time.Hour), now, time.Minute},
	} {
		if _, err := c.JobHistory(ctx, tc.from, tc.to, tc.bucket); err == nil {
			t.Errorf("JobHistory with %s succeeded", tc.what)
		}
	}
	if _, err := c.QueueHistory(ctx, "", now.Add(-time.Hour), now, time.Minute); err == nil {
		t.Error("QueueHistory of queue \"\" succeeded")
	}
}
