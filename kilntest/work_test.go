package kilntest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntest"
)

type reportArgs struct {
	Rows int `json:"rows"`
}

func (reportArgs) Kind() string { return "report" }

// reportWorker reports progress and logs, and reads its job's metadata.
type reportWorker struct {
	kiln.WorkerDefaults[reportArgs]
	fail error
}

func (w *reportWorker) Work(ctx context.Context, job *kiln.Job[reportArgs]) error {
	tenant, _ := job.MetadataValue("tenant")
	for i := range job.Args.Rows {
		if err := job.Progress(ctx, (i+1)*100/job.Args.Rows); err != nil {
			return err
		}
		if err := job.Logf(ctx, "row %d of %d for %s (attempt %d)", i+1, job.Args.Rows, tenant, job.Attempt); err != nil {
			return err
		}
	}
	return w.fail
}

func (w *reportWorker) MaxAttempts() int { return 3 }

func TestWorkCompletes(t *testing.T) {
	t.Parallel()
	clock := kilntest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	res := kilntest.Work(t.Context(), t, &reportWorker{}, reportArgs{Rows: 2}, &kilntest.WorkOpts{
		Attempt: 2, Metadata: map[string]string{"tenant": "acme"}, Clock: clock, Queue: "reports",
	})
	if res.Err != nil || res.State != kiln.JobStateCompleted || res.Attempt.Outcome != "succeeded" {
		t.Fatalf("result %+v", res)
	}
	if res.Progress == nil || *res.Progress != 100 {
		t.Errorf("progress %v; want 100", res.Progress)
	}
	want := []string{"row 1 of 2 for acme (attempt 2)", "row 2 of 2 for acme (attempt 2)"}
	if strings.Join(res.Logs, "\n") != strings.Join(want, "\n") {
		t.Errorf("logs %q; want %q", res.Logs, want)
	}
	if res.Job.Queue != "reports" || res.Job.Attempt != 2 || res.Job.MaxAttempts != 3 || !res.Attempt.StartedAt.Equal(clock.Now()) {
		t.Errorf("job %+v, attempt %+v", res.Job, res.Attempt)
	}
}

func TestWorkFails(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	clock := kilntest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	res := kilntest.Work(t.Context(), t, &reportWorker{fail: boom}, reportArgs{}, &kilntest.WorkOpts{
		Clock: clock, RetryPolicy: fixedBackoff(time.Minute),
	})
	if !errors.Is(res.Err, boom) || res.State != kiln.JobStateRetryable || !res.ScheduledAt.Equal(clock.Now().Add(time.Minute)) {
		t.Fatalf("first attempt: %+v", res)
	}
	if res.Attempt.Error != "boom" {
		t.Errorf("attempt error %q", res.Attempt.Error)
	}
	// The worker's MaxAttempts is 3: the third attempt is the last.
	res = kilntest.Work(t.Context(), t, &reportWorker{fail: boom}, reportArgs{}, &kilntest.WorkOpts{Attempt: 3})
	if res.State != kiln.JobStateDiscarded {
		t.Fatalf("last attempt: state %s", res.State)
	}
}

type fixedBackoff time.Duration

func (f fixedBackoff) Backoff(int) time.Duration { return time.Duration(f) }

// TestWorkOutcomes: a panic, a cancel, a snooze, a timeout and args that do
// not decode are reported as a client records them.
func TestWorkOutcomes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	work := func(fn func(ctx context.Context, job *kiln.Job[reportArgs]) error, opts *kilntest.WorkOpts) *kilntest.WorkResult {
		return kilntest.Work(ctx, t, kiln.WorkFunc(fn), reportArgs{Rows: 1}, opts)
	}
	res := work(func(context.Context, *kiln.Job[reportArgs]) error { panic("oops") }, nil)
	if res.State != kiln.JobStateRetryable || res.Err == nil || !strings.Contains(res.Err.Error(), "panic: oops") ||
		!strings.Contains(res.Attempt.Trace, "work_test.go") {
		t.Errorf("panic: %+v", res)
	}
	res = work(func(context.Context, *kiln.Job[reportArgs]) error { return kiln.JobCancel(errors.New("no")) }, nil)
	if res.State != kiln.JobStateCancelled {
		t.Errorf("cancel: state %s", res.State)
	}
	clock := kilntest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	res = work(func(context.Context, *kiln.Job[reportArgs]) error { return kiln.JobSnooze(time.Hour) }, &kilntest.WorkOpts{Clock: clock})
	if res.State != kiln.JobStateScheduled || !res.ScheduledAt.Equal(clock.Now().Add(time.Hour)) {
		t.Errorf("snooze: %+v", res)
	}
	res = work(func(ctx context.Context, _ *kiln.Job[reportArgs]) error {
		<-ctx.Done()
		return ctx.Err()
	}, &kilntest.WorkOpts{JobTimeout: time.Millisecond})
	if res.State != kiln.JobStateRetryable || !errors.Is(res.Err, context.DeadlineExceeded) || !strings.Contains(res.Attempt.Error, "timed out") {
		t.Errorf("timeout: %+v", res)
	}
	msg := failure(t, func(tb testing.TB) {
		kilntest.Work(ctx, tb, kiln.WorkFunc(func(context.Context, *kiln.Job[badArgs]) error { return nil }), badArgs{C: make(chan int)}, nil)
	})
	if !strings.Contains(msg, "encode args") {
		t.Errorf("args that do not encode: %q", msg)
	}
	// Args whose JSON does not decode into the worker's type.
	res = kilntest.Work(ctx, t, kiln.WorkFunc(func(context.Context, *kiln.Job[strictArgs]) error { return nil }), strictArgs{N: -1}, nil)
	if res.State != kiln.JobStateRetryable || res.Err == nil || !strings.Contains(res.Err.Error(), "decode args") {
		t.Errorf("args that do not decode: %+v", res)
	}
}

// strictArgs encode to JSON that does not decode back.
type strictArgs struct{ N int }

func (strictArgs) Kind() string { return "strict" }

func (a strictArgs) MarshalJSON() ([]byte, error) { return []byte(`{"N":"not a number"}`), nil }

// badArgs cannot be encoded; Work fails the test.
type badArgs struct{ C chan int }

func (badArgs) Kind() string { return "bad" }
