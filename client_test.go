package kiln_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store/sqlite"
)

type testArgs struct {
	N int `json:"n"`
}

func (testArgs) Kind() string { return "test" }

type otherArgs struct{}

func (otherArgs) Kind() string { return "other" }

// setup starts a client whose only worker runs fn, and subscribes to its
// events.
func setup(t *testing.T, fn func(ctx context.Context, job *kiln.Job[testArgs]) error) (*kiln.Client, <-chan *kiln.Event) {
	t.Helper()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(fn))
	c := startClient(t, fastConfig(openStore(t, ""), workers, newClock()))
	events, unsubscribe := c.Subscribe()
	t.Cleanup(unsubscribe)
	return c, events
}

func TestJobCompletes(t *testing.T) {
	t.Parallel()
	got := make(chan int, 1)
	c, events := setup(t, func(ctx context.Context, job *kiln.Job[testArgs]) error {
		got <- job.Args.N
		return nil
	})
	job := clienttest.Enqueue(t, c, testArgs{N: 42}, &kiln.EnqueueOpts{Tags: []string{"a"}, Metadata: map[string]string{"k": "v"}})
	if job.State != kiln.JobStateAvailable || job.Queue != "default" || job.Priority != 1 || job.MaxAttempts != kiln.DefaultMaxAttempts {
		t.Fatalf("enqueued job = %+v", job)
	}
	ev := waitEvent(t, events, kiln.EventJobCompleted, job.ID)
	if n := <-got; n != 42 {
		t.Fatalf("worker got N=%d, want 42", n)
	}
	if ev.Job.State != kiln.JobStateCompleted {
		t.Fatalf("event job state %s", ev.Job.State)
	}
	row := clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted)
	if row.Attempt != 1 || row.FinalizedAt == nil || string(row.Metadata) != `{"k":"v"}` || len(row.Tags) != 1 {
		t.Fatalf("completed row = %+v", row)
	}
	attempts, err := c.JobAttempts(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) != 1 || attempts[0].Outcome != kilntype.AttemptSucceeded || attempts[0].Server != c.ID() || attempts[0].FinishedAt == nil {
		t.Fatalf("attempts = %+v", attempts)
	}
}

func TestRetryWithBackoffThenComplete(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
		if calls.Add(1) == 1 {
			return errors.New("boom")
		}
		return nil
	}))
	clock := newClock()
	c := startClient(t, fastConfig(openStore(t, ""), workers, clock))
	events, unsub := c.Subscribe()
	defer unsub()

	job := clienttest.Enqueue(t, c, testArgs{}, nil)
	ev := waitEvent(t, events, kiln.EventJobFailed, job.ID)
	if ev.Attempt.Error != "boom" || ev.Attempt.Outcome != kilntype.AttemptFailed {
		t.Fatalf("failed attempt = %+v", ev.Attempt)
	}
	row := clienttest.WaitState(t, c, job.ID, kiln.JobStateRetryable)
	if want := testBase.Add(time.Hour); !row.ScheduledAt.Equal(want) {
		t.Fatalf("retry scheduled at %s, want %s (now + backoff)", row.ScheduledAt, want)
	}
	if row.LastError != "boom" {
		t.Fatalf("last error %q", row.LastError)
	}
	// Not due yet: a second job enqueued after it runs, this one does not.
	marker := clienttest.Enqueue(t, c, testArgs{N: 1}, nil)
	waitEvent(t, events, kiln.EventJobCompleted, marker.ID)
	if row, _ := c.JobGet(context.Background(), job.ID); row.State != kiln.JobStateRetryable {
		t.Fatalf("job ran before its backoff: %s", row.State)
	}
	clock.Advance(time.Hour)
	waitEvent(t, events, kiln.EventJobCompleted, job.ID)
	attempts, _ := c.JobAttempts(context.Background(), job.ID)
	if len(attempts) != 2 || attempts[0].Outcome != kilntype.AttemptFailed || attempts[1].Outcome != kilntype.AttemptSucceeded || attempts[1].Attempt != 2 {
		t.Fatalf("attempts = %+v", attempts)
	}
}

func TestDiscardedAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	clock := newClock()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
		return errors.New("always fails")
	}))
	c := startClient(t, fastConfig(openStore(t, ""), workers, clock))
	events, unsub := c.Subscribe(kiln.EventJobFailed, kiln.EventJobDiscarded)
	defer unsub()
	job := clienttest.Enqueue(t, c, testArgs{}, &kiln.EnqueueOpts{MaxAttempts: 2})
	waitEvent(t, events, kiln.EventJobFailed, job.ID)
	clock.Advance(time.Hour)
	waitEvent(t, events, kiln.EventJobDiscarded, job.ID)
	row := clienttest.WaitState(t, c, job.ID, kiln.JobStateDiscarded)
	if row.Attempt != 2 || row.FinalizedAt == nil || row.LastError != "always fails" {
		t.Fatalf("discarded row = %+v", row)
	}
	attempts, _ := c.JobAttempts(context.Background(), job.ID)
	if len(attempts) != 2 || attempts[1].Error != "always fails" {
		t.Fatalf("errors not kept: %+v", attempts)
	}
}

func TestWorkerCancelStopsRetries(t *testing.T) {
	t.Parallel()
	c, events := setup(t, func(ctx context.Context, job *kiln.Job[testArgs]) error {
		return kiln.JobCancel(errors.New("account closed"))
	})
	job := clienttest.Enqueue(t, c, testArgs{}, nil)
	ev := waitEvent(t, events, kiln.EventJobCancelled, job.ID)
	if !strings.Contains(ev.Attempt.Error, "account closed") {
		t.Fatalf("cancel error = %q", ev.Attempt.Error)
	}
	clienttest.WaitState(t, c, job.ID, kiln.JobStateCancelled)
}

func TestSnoozeDoesNotUseAnAttempt(t *testing.T) {
	t.Parallel()
	clock := newClock()
	var calls atomic.Int32
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
		if calls.Add(1) == 1 {
			return kiln.JobSnooze(10 * time.Minute)
		}
		return nil
	}))
	c := startClient(t, fastConfig(openStore(t, ""), workers, clock))
	events, unsub := c.Subscribe()
	defer unsub()
	job := clienttest.Enqueue(t, c, testArgs{}, &kiln.EnqueueOpts{MaxAttempts: 1})
	waitEvent(t, events, kiln.EventJobSnoozed, job.ID)
	row := clienttest.WaitState(t, c, job.ID, kiln.JobStateScheduled)
	if row.Attempt != 0 || !row.ScheduledAt.Equal(testBase.Add(10*time.Minute)) {
		t.Fatalf("snoozed row: attempt %d scheduled %s", row.Attempt, row.ScheduledAt)
	}
	clock.Advance(10 * time.Minute)
	// MaxAttempts is 1: the job completes only if the snooze gave its attempt back.
	waitEvent(t, events, kiln.EventJobCompleted, job.ID)
	if row := clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted); row.Attempt != 1 {
		t.Fatalf("attempt = %d, want 1", row.Attempt)
	}
}

type slowWorker struct {
	kiln.WorkerDefaults[testArgs]
}

func (slowWorker) Timeout(*kiln.Job[testArgs]) time.Duration { return 20 * time.Millisecond }
func (slowWorker) Work(ctx context.Context, job *kiln.Job[testArgs]) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestTimeoutFailsTheAttempt(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, slowWorker{})
	c := startClient(t, fastConfig(openStore(t, ""), workers, newClock()))
	events, unsub := c.Subscribe()
	defer unsub()
	job := clienttest.Enqueue(t, c, testArgs{}, nil)
	ev := waitEvent(t, events, kiln.EventJobFailed, job.ID)
	if !strings.Contains(ev.Attempt.Error, "timed out") {
		t.Fatalf("timeout error = %q", ev.Attempt.Error)
	}
}

func panicky(ctx context.Context, job *kiln.Job[testArgs]) error {
	var m map[string]int
	//lint:ignore SA5000 the nil map write is the panic this test needs
	m["x"] = 1 // nil map write: a runtime panic
	return nil
}

func TestPanicIsRecordedWithStack(t *testing.T) {
	t.Parallel()
	c, events := setup(t, panicky)
	job := clienttest.Enqueue(t, c, testArgs{}, nil)
	ev := waitEvent(t, events, kiln.EventJobFailed, job.ID)
	if !strings.Contains(ev.Attempt.Error, "panic: assignment to entry in nil map") {
		t.Fatalf("panic error = %q", ev.Attempt.Error)
	}
	if !strings.Contains(ev.Attempt.Trace, "kiln_test.panicky") {
		t.Fatalf("trace does not name the panicking function:\n%s", ev.Attempt.Trace)
	}
	attempts, _ := c.JobAttempts(context.Background(), job.ID)
	if len(attempts) != 1 || attempts[0].Trace == "" {
		t.Fatalf("stored attempt has no trace: %+v", attempts)
	}
}

func TestArgsThatDoNotDecodeFailAndKeepTheJob(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	c := startClient(t, fastConfig(st, workers, newClock()))
	events, unsubscribe := c.Subscribe()
	t.Cleanup(unsubscribe)
	// A client with the worker refuses such args at enqueue; an
	// enqueue-only client (another program) cannot check them.
	enqueuer, err := kiln.NewClient(&kiln.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	job := clienttest.Enqueue(t, enqueuer, kiln.RawArgs{JobKind: "test", JSON: []byte(`{"n":"not a number"}`)}, nil)
	ev := waitEvent(t, events, kiln.EventJobFailed, job.ID)
	if !strings.Contains(ev.Attempt.Error, `decode args of kind "test"`) {
		t.Fatalf("decode error = %q", ev.Attempt.Error)
	}
	clienttest.WaitState(t, c, job.ID, kiln.JobStateRetryable)
}

func TestEnqueueRejectsBadInput(t *testing.T) {
	t.Parallel()
	c, _ := setup(t, func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil })
	ctx := context.Background()
	_, err := c.Enqueue(ctx, otherArgs{}, nil)
	if !errors.Is(err, kiln.ErrUnknownKind) || !strings.Contains(err.Error(), `"other"`) {
		t.Fatalf("unknown kind error = %v", err)
	}
	_, err = c.Enqueue(ctx, kiln.RawArgs{JobKind: "test", JSON: []byte(`{"n":`)}, nil)
	if err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("invalid JSON error = %v", err)
	}
	for _, opts := range []*kiln.EnqueueOpts{{Priority: 9}, {Queue: "a b"}, {MaxAttempts: -1}, {RunIn: -time.Second}} {
		if _, err := c.Enqueue(ctx, testArgs{}, opts); err == nil {
			t.Errorf("enqueue with %+v: no error", opts)
		}
	}
	list, err := c.JobList(ctx, nil)
	if err != nil || len(list.Jobs) != 0 {
		t.Fatalf("rejected enqueues stored jobs: %v %v", list, err)
	}
}

func TestDelayedJobRunsWhenDue(t *testing.T) {
	t.Parallel()
	clock := newClock()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	c := startClient(t, fastConfig(openStore(t, ""), workers, clock))
	events, unsub := c.Subscribe(kiln.EventJobCompleted)
	defer unsub()
	in := clienttest.Enqueue(t, c, testArgs{N: 1}, &kiln.EnqueueOpts{RunIn: 5 * time.Minute})
	at := clienttest.Enqueue(t, c, testArgs{N: 2}, &kiln.EnqueueOpts{RunAt: testBase.Add(10 * time.Minute)})
	if in.State != kiln.JobStateScheduled || !in.ScheduledAt.Equal(testBase.Add(5*time.Minute)) || at.State != kiln.JobStateScheduled {
		t.Fatalf("delayed jobs: %+v %+v", in, at)
	}
	clock.Advance(5 * time.Minute)
	waitEvent(t, events, kiln.EventJobCompleted, in.ID)
	if row, _ := c.JobGet(context.Background(), at.ID); row.State != kiln.JobStateScheduled {
		t.Fatalf("RunAt job ran early: %s", row.State)
	}
	clock.Advance(5 * time.Minute)
	waitEvent(t, events, kiln.EventJobCompleted, at.ID)
}

// blockingWorker's jobs signal started and block until released or their
// context is done.
type blockingWorker struct {
	kiln.WorkerDefaults[testArgs]
	started chan int64
	release chan struct{}
	maxConc int
	running atomic.Int32
	peak    atomic.Int32
}

func newBlockingWorker() *blockingWorker {
	return &blockingWorker{started: make(chan int64, 100), release: make(chan struct{})}
}

func (w *blockingWorker) MaxConcurrency() int { return w.maxConc }
func (w *blockingWorker) Work(ctx context.Context, job *kiln.Job[testArgs]) error {
	n := w.running.Add(1)
	defer w.running.Add(-1)
	for {
		p := w.peak.Load()
		if n <= p || w.peak.CompareAndSwap(p, n) {
			break
		}
	}
	w.started <- job.ID
	select {
	case <-w.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestCancelScheduledAndRunningJobs(t *testing.T) {
	t.Parallel()
	w := newBlockingWorker()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	c := startClient(t, fastConfig(openStore(t, ""), workers, newClock()))
	events, unsub := c.Subscribe(kiln.EventJobCancelled)
	defer unsub()
	ctx := context.Background()

	scheduled := clienttest.Enqueue(t, c, testArgs{}, &kiln.EnqueueOpts{RunIn: time.Hour})
	row, err := c.JobCancel(ctx, scheduled.ID)
	if err != nil || row.State != kiln.JobStateCancelled || row.FinalizedAt == nil {
		t.Fatalf("cancel scheduled: %+v %v", row, err)
	}
	running := clienttest.Enqueue(t, c, testArgs{}, nil)
	<-w.started
	if _, err := c.JobCancel(ctx, running.ID); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, events, kiln.EventJobCancelled, running.ID)
	if ev.Attempt.Outcome != kilntype.AttemptCancelled {
		t.Fatalf("attempt = %+v", ev.Attempt)
	}
	clienttest.WaitState(t, c, running.ID, kiln.JobStateCancelled)
	if _, err := c.JobCancel(ctx, 999999); !errors.Is(err, kiln.ErrNotFound) {
		t.Fatalf("cancel unknown: %v", err)
	}
}

func TestCancelFromAnotherProcess(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kiln.db")
	w := newBlockingWorker()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	c := startClient(t, fastConfig(openStore(t, path), workers, newClock()))
	events, unsub := c.Subscribe(kiln.EventJobCancelled)
	defer unsub()
	// The other process: its own store on the same file, an enqueue-only client.
	other, err := kiln.NewClient(&kiln.Config{Store: openStore(t, path)})
	if err != nil {
		t.Fatal(err)
	}
	job := clienttest.Enqueue(t, other, testArgs{}, nil)
	<-w.started
	requested := time.Now()
	row, err := other.JobCancel(context.Background(), job.ID)
	if err != nil || row.State != kiln.JobStateRunning || row.CancelRequestedAt == nil {
		t.Fatalf("cancel from other process: %+v %v", row, err)
	}
	// The request reaches the running job through the cancel poll
	// (CancelPollInterval), however loaded the machine: no timing bound
	// here, which would measure the load.
	waitEvent(t, events, kiln.EventJobCancelled, job.ID)
	t.Logf("running job cancelled %s after the request", time.Since(requested))
}

func TestGracefulStopPutsUnfinishedJobsBack(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	w := newBlockingWorker()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	c, err := kiln.NewClient(fastConfig(st, workers, newClock()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	job := clienttest.Enqueue(t, c, testArgs{}, &kiln.EnqueueOpts{MaxAttempts: 1})
	<-w.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no patience: cancel running jobs at once
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	row, err := c.JobGet(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.State != kiln.JobStateAvailable || row.Attempt != 0 || row.LeasedBy != "" {
		t.Fatalf("after stop: state %s attempt %d leased by %q; want available, 0, none", row.State, row.Attempt, row.LeasedBy)
	}
	attempts, _ := c.JobAttempts(context.Background(), job.ID)
	if len(attempts) != 1 || attempts[0].Outcome != kilntype.AttemptInterrupted {
		t.Fatalf("attempts = %+v", attempts)
	}
}

func TestStopWaitsForRunningJobs(t *testing.T) {
	t.Parallel()
	w := newBlockingWorker()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	c, err := kiln.NewClient(fastConfig(openStore(t, ""), workers, newClock()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	job := clienttest.Enqueue(t, c, testArgs{}, nil)
	<-w.started
	stopped := make(chan error)
	go func() { stopped <- c.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned before the job finished: %v", err)
	default:
	}
	close(w.release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if row, _ := c.JobGet(context.Background(), job.ID); row.State != kiln.JobStateCompleted {
		t.Fatalf("job %s after graceful stop, want completed", row.State)
	}
}

func TestStopAndCancel(t *testing.T) {
	t.Parallel()
	w := newBlockingWorker()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	c, err := kiln.NewClient(fastConfig(openStore(t, ""), workers, newClock()))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	job := clienttest.Enqueue(t, c, testArgs{}, nil)
	<-w.started
	if err := c.StopAndCancel(context.Background()); err != nil {
		t.Fatal(err)
	}
	if row, _ := c.JobGet(context.Background(), job.ID); row.State != kiln.JobStateAvailable {
		t.Fatalf("job %s after StopAndCancel, want available", row.State)
	}
}

func TestUniqueJobs(t *testing.T) {
	t.Parallel()
	w := newBlockingWorker()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	c := startClient(t, fastConfig(openStore(t, ""), workers, newClock()))
	ctx := context.Background()
	u := &kiln.EnqueueOpts{Unique: &kiln.UniqueOpts{}}
	first, err := c.Enqueue(ctx, testArgs{N: 1}, u)
	if err != nil || first.UniqueSkipped {
		t.Fatal(first, err)
	}
	second, err := c.Enqueue(ctx, testArgs{N: 1}, u)
	if err != nil || !second.UniqueSkipped || second.Job.ID != first.Job.ID {
		t.Fatalf("duplicate: %+v %v", second, err)
	}
	other, _ := c.Enqueue(ctx, testArgs{N: 2}, u)
	if other.UniqueSkipped {
		t.Fatal("different args treated as duplicate")
	}
	byQueue := &kiln.EnqueueOpts{Queue: "elsewhere", Unique: &kiln.UniqueOpts{ByQueue: true}}
	if r, _ := c.Enqueue(ctx, testArgs{N: 1}, byQueue); r.UniqueSkipped {
		t.Fatal("ByQueue: another queue treated as duplicate")
	}
	// Once the first job finishes, the same args may be enqueued again.
	close(w.release)
	clienttest.WaitState(t, c, first.Job.ID, kiln.JobStateCompleted)
	again, _ := c.Enqueue(ctx, testArgs{N: 1}, u)
	if again.UniqueSkipped {
		t.Fatal("unique job still blocks after the first completed")
	}
}

func TestPriorityThenScheduleOrder(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	var mu sync.Mutex
	var order []int
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
		mu.Lock()
		order = append(order, job.Args.N)
		mu.Unlock()
		return nil
	}))
	cfg := fastConfig(st, workers, newClock())
	cfg.Queues = map[string]kiln.QueueConfig{"default": {MaxWorkers: 1}}
	c, err := kiln.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Enqueue before Start so the claim sees them all.
	for _, p := range []struct{ n, prio int }{{1, 4}, {2, 2}, {3, 1}, {4, 2}, {5, 1}} {
		clienttest.Enqueue(t, c, testArgs{N: p.n}, &kiln.EnqueueOpts{Priority: p.prio})
	}
	events, unsub := c.Subscribe(kiln.EventJobCompleted)
	defer unsub()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	for range 5 {
		<-events
	}
	mu.Lock()
	defer mu.Unlock()
	want := []int{3, 5, 2, 4, 1}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("run order %v, want %v", order, want)
		}
	}
}

func TestQueueAndKindLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		maxWorkers int
		kindLimit  int
		wantPeak   int32
	}{
		{"queue", 2, 0, 2},
		{"kind", 10, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newBlockingWorker()
			w.maxConc = tc.kindLimit
			workers := kiln.NewWorkers()
			kiln.AddWorker(workers, w)
			cfg := fastConfig(openStore(t, ""), workers, newClock())
			cfg.Queues = map[string]kiln.QueueConfig{"default": {MaxWorkers: tc.maxWorkers}}
			c := startClient(t, cfg)
			events, unsub := c.Subscribe(kiln.EventJobCompleted)
			defer unsub()
			for i := range 6 {
				clienttest.Enqueue(t, c, testArgs{N: i}, nil)
			}
			for range tc.wantPeak {
				<-w.started
			}
			// Let every job through one at a time; the peak is checked at the end.
			go func() {
				for range 6 {
					w.release <- struct{}{}
				}
			}()
			for range 6 {
				<-events
			}
			if p := w.peak.Load(); p != tc.wantPeak {
				t.Fatalf("peak concurrency %d, want %d", p, tc.wantPeak)
			}
		})
	}
}

func TestJobOfUnknownKindStaysAvailable(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	enqueuer, _ := kiln.NewClient(&kiln.Config{Store: st})
	stranger := clienttest.Enqueue(t, enqueuer, otherArgs{}, nil)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	wc := startClient(t, fastConfig(st, workers, newClock()))
	wevents, unsub := wc.Subscribe(kiln.EventJobCompleted)
	defer unsub()
	marker := clienttest.Enqueue(t, wc, testArgs{}, nil)
	waitEvent(t, wevents, kiln.EventJobCompleted, marker.ID)
	row, _ := wc.JobGet(context.Background(), stranger.ID)
	if row.State != kiln.JobStateAvailable || row.Attempt != 0 {
		t.Fatalf("job of a kind without worker: %s attempt %d; want untouched", row.State, row.Attempt)
	}
}

func TestStrictKindsFailsJobWithoutWorker(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	enqueuer, _ := kiln.NewClient(&kiln.Config{Store: st})
	stranger := clienttest.Enqueue(t, enqueuer, otherArgs{}, nil)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	cfg := fastConfig(st, workers, newClock())
	cfg.StrictKinds = true
	c := startClient(t, cfg)
	row := clienttest.WaitState(t, c, stranger.ID, kiln.JobStateRetryable)
	if !strings.Contains(row.LastError, `no worker for kind "other"`) {
		t.Fatalf("strict error = %q", row.LastError)
	}
}

func TestRetryAndDeleteByHand(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	fail.Store(true)
	c, events := setup(t, func(ctx context.Context, job *kiln.Job[testArgs]) error {
		if fail.Load() {
			return errors.New("nope")
		}
		return nil
	})
	ctx := context.Background()
	job := clienttest.Enqueue(t, c, testArgs{}, &kiln.EnqueueOpts{MaxAttempts: 1})
	waitEvent(t, events, kiln.EventJobDiscarded, job.ID)
	fail.Store(false)
	row, err := c.JobRetry(ctx, job.ID)
	if err != nil || row.State != kiln.JobStateAvailable || row.MaxAttempts != 2 {
		t.Fatalf("retry: %+v %v", row, err)
	}
	waitEvent(t, events, kiln.EventJobCompleted, job.ID)
	if _, err := c.JobDelete(ctx, job.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.JobGet(ctx, job.ID); !errors.Is(err, kiln.ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
}

func TestDeleteRunningJobFails(t *testing.T) {
	t.Parallel()
	w := newBlockingWorker()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	c := startClient(t, fastConfig(openStore(t, ""), workers, newClock()))
	job := clienttest.Enqueue(t, c, testArgs{}, nil)
	<-w.started
	if _, err := c.JobDelete(context.Background(), job.ID); !errors.Is(err, kiln.ErrJobRunning) {
		t.Fatalf("delete running: %v", err)
	}
	close(w.release)
}

func TestEnqueueManyAndList(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	c, _ := kiln.NewClient(&kiln.Config{Store: st})
	ctx := context.Background()
	params := make([]kiln.EnqueueParams, 25)
	for i := range params {
		params[i] = kiln.EnqueueParams{Args: testArgs{N: i}}
	}
	params[24].Opts = &kiln.EnqueueOpts{Queue: "other"}
	res, err := c.EnqueueMany(ctx, params)
	if err != nil || len(res) != 25 {
		t.Fatal(len(res), err)
	}
	var ids []int64
	cursor := int64(0)
	for {
		page, err := c.JobList(ctx, &kiln.JobListParams{Limit: 10, Cursor: cursor, Queues: []string{"default"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Jobs {
			ids = append(ids, j.ID)
		}
		if page.NextCursor == 0 {
			break
		}
		cursor = page.NextCursor
	}
	if len(ids) != 24 || ids[0] <= ids[23] {
		t.Fatalf("paged %d ids, newest first: %v", len(ids), ids)
	}
	bad := []kiln.EnqueueParams{{Args: testArgs{}}, {Args: testArgs{}, Opts: &kiln.EnqueueOpts{Priority: 7}}}
	if _, err := c.EnqueueMany(ctx, bad); err == nil || !strings.Contains(err.Error(), "job 1") {
		t.Fatalf("batch with a bad job: %v", err)
	}
	if counts, _ := c.JobCountByState(ctx); counts[kiln.JobStateAvailable] != 25 {
		t.Fatalf("a failed batch stored jobs: %v", counts)
	}
}

func TestAddWorkerTwiceIsAnError(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	fn := kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil })
	if err := kiln.AddWorkerSafely(workers, fn); err != nil {
		t.Fatal(err)
	}
	if err := kiln.AddWorkerSafely(workers, fn); err == nil || !strings.Contains(err.Error(), `kind "test" already has a worker`) {
		t.Fatalf("duplicate registration: %v", err)
	}
}

func TestStartWithoutSchemaNamesMigrate(t *testing.T) {
	t.Parallel()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kiln.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	c, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(context.Background())
	if !errors.Is(err, kiln.ErrSchemaMissing) || !strings.Contains(err.Error(), "kiln migrate") {
		t.Fatalf("start on an empty database: %v", err)
	}
}
