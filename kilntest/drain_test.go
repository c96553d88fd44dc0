package kilntest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntest"
)

type flakyArgs struct {
	FailTimes int `json:"fail_times"`
}

func (flakyArgs) Kind() string { return "flaky" }

// TestDrainRetriesWithClock: a job that fails twice is retried by moving
// the clock through its backoffs, and completes on the third attempt; a
// delayed job runs once the clock reaches it. Without the clock, only the
// first attempt runs.
func TestDrainRetriesWithClock(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[flakyArgs]) error {
		attempts.Add(1)
		if job.Attempt <= job.Args.FailTimes {
			return errors.New("not yet")
		}
		return nil
	}))
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := kilntest.NewClock(start)
	c := kilntest.NewClient(t, &kiln.Config{Workers: workers, Clock: clock})
	ctx := t.Context()
	flaky := enqueue(t, c, flakyArgs{FailTimes: 2}, nil)
	later := enqueue(t, c, flakyArgs{}, &kiln.EnqueueOpts{RunIn: 24 * time.Hour})

	res := kilntest.Drain(ctx, t, c, nil)
	if len(res.Attempts) != 1 || res.Count(kiln.JobStateRetryable) != 1 || res.Attempts[0].Attempt.Error != "not yet" {
		t.Fatalf("without a clock: %d attempts, %d retryable", len(res.Attempts), res.Count(kiln.JobStateRetryable))
	}

	res = kilntest.Drain(ctx, t, c, &kilntest.DrainOpts{Clock: clock})
	if got := len(res.Attempts); got != 3 || res.Count(kiln.JobStateCompleted) != 2 || res.Count(kiln.JobStateRetryable) != 1 {
		t.Fatalf("with a clock: %d attempts (%d completed); want 3 (2 completed)", got, res.Count(kiln.JobStateCompleted))
	}
	if res.Attempts[1].Job.ID != flaky.ID || res.Attempts[1].Job.Attempt != 3 || res.Attempts[2].Job.ID != later.ID {
		t.Errorf("order: %+v %+v", res.Attempts[1].Job, res.Attempts[2].Job)
	}
	if !clock.Now().Equal(later.ScheduledAt) {
		t.Errorf("clock at %s; want the delayed job's time %s", clock.Now(), later.ScheduledAt)
	}
	if attempts.Load() != 4 {
		t.Errorf("%d attempts run; want 4", attempts.Load())
	}
}

type parentArgs struct{}

func (parentArgs) Kind() string { return "parent" }

type childArgs struct{}

func (childArgs) Kind() string { return "child" }

// TestDrainRunsContinuationsAndEnqueued: a continuation runs after its
// parent, in the same drain, and so does a job a worker enqueues; a queue
// not drained is left alone.
func TestDrainRunsContinuationsAndEnqueued(t *testing.T) {
	t.Parallel()
	var c *kiln.Client
	var order []string
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[parentArgs]) error {
		order = append(order, "parent")
		_, err := c.Enqueue(ctx, flakyArgs{}, nil)
		return err
	}))
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[childArgs]) error {
		order = append(order, "child")
		return nil
	}))
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[flakyArgs]) error {
		order = append(order, "enqueued")
		return nil
	}))
	c = kilntest.NewClient(t, &kiln.Config{Workers: workers})
	ctx := t.Context()
	p := enqueue(t, c, parentArgs{}, nil)
	enqueue(t, c, childArgs{}, &kiln.EnqueueOpts{Parents: []int64{p.ID}})
	other := enqueue(t, c, childArgs{}, &kiln.EnqueueOpts{Queue: "other"})
	res := kilntest.Drain(ctx, t, c, nil)
	if res.Count(kiln.JobStateCompleted) != 3 || len(order) != 3 || order[0] != "parent" {
		t.Fatalf("ran %v", order)
	}
	kilntest.RequireEnqueued(ctx, t, c, childArgs{}, &kilntest.RequireOpts{Queue: "other", State: kiln.JobStateAvailable})
	res = kilntest.Drain(ctx, t, c, &kilntest.DrainOpts{Queues: []string{"other"}})
	if len(res.Attempts) != 1 || res.Attempts[0].Job.ID != other.ID {
		t.Fatalf("draining queue other: %+v", res.Attempts)
	}
}

// TestDrainFailsOnEndlessJobs: a job that snoozes for ever ends the drain
// at MaxAttempts with a message naming it; a started client cannot drain.
func TestDrainFailsOnEndlessJobs(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[flakyArgs]) error {
		return kiln.JobSnooze(time.Minute)
	}))
	clock := kilntest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	c := kilntest.NewClient(t, &kiln.Config{Workers: workers, Clock: clock})
	ctx := t.Context()
	enqueue(t, c, flakyArgs{}, nil)
	msg := failure(t, func(tb testing.TB) {
		kilntest.Drain(ctx, tb, c, &kilntest.DrainOpts{Clock: clock, MaxAttempts: 5})
	})
	if want := `Drain ran 5 attempts (DrainOpts.MaxAttempts) and jobs are still due; the next: job 1 of kind "flaky" (snoozed)`; !contains(msg, want) {
		t.Fatalf("message %q; want %q", msg, want)
	}

	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.StopAndCancel(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	msg = failure(t, func(tb testing.TB) { kilntest.Drain(ctx, tb, c, nil) })
	if !contains(msg, "the client is started") {
		t.Fatalf("message %q", msg)
	}
}
