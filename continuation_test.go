package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store"
)

type childArgs struct{}

func (childArgs) Kind() string { return "child" }

type batchItemArgs struct {
	N int `json:"n"`
}

func (batchItemArgs) Kind() string { return "batch_item" }

type callbackArgs struct{}

func (callbackArgs) Kind() string { return "callback" }

func TestContinuationRunsAfterItsParent(t *testing.T) {
	t.Parallel()
	parentWorker := newBlockingWorker()
	childRan := make(chan []int64, 1)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, parentWorker)
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[childArgs]) error {
		childRan <- kiln.ParentIDs(job.JobRow)
		return nil
	}))
	c := startClient(t, fastConfig(openStore(t, ""), workers, nil))
	events, unsub := c.Subscribe(kiln.EventJobCompleted)
	defer unsub()
	ctx := context.Background()
	parent := clienttest.Enqueue(t, c, testArgs{}, nil)
	<-parentWorker.started
	child := clienttest.Enqueue(t, c, childArgs{}, &kiln.EnqueueOpts{Parents: []int64{parent.ID}})
	if child.State != kiln.JobStatePending {
		t.Fatalf("continuation enqueued %s, want pending", child.State)
	}
	select {
	case <-childRan:
		t.Fatal("the continuation ran while its parent was running")
	default:
	}
	close(parentWorker.release)
	waitEvent(t, events, kiln.EventJobCompleted, parent.ID)
	if parents := <-childRan; len(parents) != 1 || parents[0] != parent.ID {
		t.Fatalf("child saw parents %v, want [%d]", parents, parent.ID)
	}
	waitEvent(t, events, kiln.EventJobCompleted, child.ID)
	if _, err := c.Enqueue(ctx, childArgs{}, &kiln.EnqueueOpts{Parents: []int64{999999}}); !errors.Is(err, kiln.ErrNotFound) {
		t.Fatalf("continuation of an unknown parent: %v", err)
	}
}

func TestContinuationParentFailurePolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy kiln.ParentFailurePolicy
		want   kiln.JobState
	}{
		{"", kiln.JobStateCancelled}, // the default: cancel
		{kiln.ParentFailureCancel, kiln.JobStateCancelled},
		{kiln.ParentFailureRun, kiln.JobStateCompleted},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			var childRuns atomic.Int32
			workers := kiln.NewWorkers()
			kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
				return errors.New("parent fails")
			}))
			kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[childArgs]) error {
				childRuns.Add(1)
				return nil
			}))
			c := startClient(t, fastConfig(openStore(t, ""), workers, nil))
			parent := clienttest.Enqueue(t, c, testArgs{}, &kiln.EnqueueOpts{MaxAttempts: 1})
			child := clienttest.Enqueue(t, c, childArgs{}, &kiln.EnqueueOpts{Parents: []int64{parent.ID}, ParentFailure: tc.policy})
			clienttest.WaitState(t, c, parent.ID, kiln.JobStateDiscarded)
			row := clienttest.WaitState(t, c, child.ID, tc.want)
			if tc.want == kiln.JobStateCancelled {
				if childRuns.Load() != 0 || !strings.Contains(row.LastError, "was discarded") {
					t.Fatalf("cancelled continuation ran %d times, error %q", childRuns.Load(), row.LastError)
				}
			} else if childRuns.Load() != 1 {
				t.Fatalf("continuation ran %d times, want 1", childRuns.Load())
			}
		})
	}
}

func TestBatchOf1000TriggersItsCallbackOnce(t *testing.T) {
	t.Parallel()
	var callbacks atomic.Int32
	outcomes := make(chan kiln.BatchOutcome, 10)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[batchItemArgs]) error {
		if job.Args.N%10 == 0 {
			return kiln.JobCancel(errors.New("every tenth item gives up"))
		}
		return nil
	}))
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[callbackArgs]) error {
		callbacks.Add(1)
		outcome, ok := kiln.BatchOutcomeOf(job.JobRow)
		if !ok {
			return kiln.JobCancel(errors.New("callback without batch outcome"))
		}
		outcomes <- outcome
		return nil
	}))
	cfg := fastConfig(openStore(t, ""), workers, nil)
	cfg.Queues = map[string]kiln.QueueConfig{"default": {MaxWorkers: 50}}
	c := startClient(t, cfg)
	jobs := make([]kiln.EnqueueParams, 1000)
	for i := range jobs {
		jobs[i] = kiln.EnqueueParams{Args: batchItemArgs{N: i}}
	}
	batch, err := c.EnqueueBatch(context.Background(), jobs, &kiln.BatchOpts{ID: "import-42", Callback: callbackArgs{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Jobs) != 1000 || batch.Callback == nil || batch.Callback.State != kiln.JobStatePending {
		t.Fatalf("batch = %d jobs, callback %+v", len(batch.Jobs), batch.Callback)
	}
	waitCallbackCompleted(t, c, "import-42", batch.Callback.ID)
	got := <-outcomes
	if want := (kiln.BatchOutcome{BatchID: "import-42", Total: 1000, Completed: 900, Failed: 100}); got != want {
		t.Fatalf("callback saw %+v, want %+v", got, want)
	}
	progress, err := c.BatchGet(context.Background(), "import-42")
	if err != nil {
		t.Fatal(err)
	}
	if !progress.Finished() || progress.Total != 1000 || progress.Counts[kiln.JobStateCancelled] != 100 || progress.CallbackJobID != batch.Callback.ID {
		t.Fatalf("batch progress = %+v", progress)
	}
	// Every pass of the resolver after this one finds nothing to release.
	marker := clienttest.Enqueue(t, c, batchItemArgs{N: 1}, nil)
	clienttest.WaitState(t, c, marker.ID, kiln.JobStateCompleted)
	if n := callbacks.Load(); n != 1 {
		t.Fatalf("callback ran %d times, want once", n)
	}
}

// waitCallbackCompleted polls until the callback job of batch id has
// completed. It fails when nothing moves for a minute (the batch's counts
// by state do not change and the callback does not complete): a batch or
// callback that is stuck fails it, a machine slowed down by load does not
// (1000 jobs under -race beside other test binaries can take longer than
// any fixed deadline that is short enough to catch a stuck callback, and at
// a load average of 20 a race-instrumented SQLite claim was seen to hold
// the writer for more than 15 s; the poll's own deadline, 10 minutes, only
// bounds a hung test).
func waitCallbackCompleted(t *testing.T, c *kiln.Client, id string, callbackID int64) {
	t.Helper()
	const stall = time.Minute
	deadline, last := time.Now().Add(stall), ""
	testutil.Poll{Timeout: 10 * time.Minute}.Eventually(t, fmt.Sprintf("callback job %d to complete", callbackID), func() bool {
		row, err := c.JobGet(context.Background(), callbackID)
		if err != nil {
			t.Fatal(err)
		}
		if row.State == kiln.JobStateCompleted {
			return true
		}
		batch, err := c.BatchGet(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if counts := fmt.Sprint(batch.Counts); counts != last {
			deadline, last = time.Now().Add(stall), counts
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback job %d is %s, and no job of batch %s moved for %s (counts %v)", callbackID, row.State, id, stall, batch.Counts)
		}
		return false
	})
}

// TestEnqueueBatchIDUsedOnce: EnqueueBatch with the ID of a stored batch
// is refused (a *ValidationError for batch_id) and changes nothing: the
// first batch keeps its jobs and its callback, which runs with its own
// counts. The second call used to join the batch and take its callback
// over, on both stores.
func TestEnqueueBatchIDUsedOnce(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		outcomes := make(chan kiln.BatchOutcome, 2)
		workers := kiln.NewWorkers()
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[batchItemArgs]) error { return nil }))
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[callbackArgs]) error {
			o, _ := kiln.BatchOutcomeOf(job.JobRow)
			outcomes <- o
			return nil
		}))
		cfg := fastConfigFor(st, workers, nil)
		c, err := kiln.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		first, err := c.EnqueueBatch(ctx, []kiln.EnqueueParams{{Args: batchItemArgs{N: 1}}, {Args: batchItemArgs{N: 2}}},
			&kiln.BatchOpts{ID: "dup", Callback: callbackArgs{}})
		if err != nil {
			t.Fatal(err)
		}
		for _, cb := range []kiln.JobArgs{callbackArgs{}, nil} {
			_, err := c.EnqueueBatch(ctx, []kiln.EnqueueParams{{Args: batchItemArgs{N: 3}}}, &kiln.BatchOpts{ID: "dup", Callback: cb})
			wantInvalid(t, "a second EnqueueBatch with ID dup", err, "batch_id", `"dup" exists`)
		}
		b, err := c.BatchGet(ctx, "dup")
		if err != nil {
			t.Fatal(err)
		}
		if b.Total != 2 || b.CallbackJobID != first.Callback.ID {
			t.Errorf("BatchGet after the refused calls: total %d, callback %d; want 2 and %d", b.Total, b.CallbackJobID, first.Callback.ID)
		}
		if jobs, err := c.JobList(ctx, nil); err != nil || len(jobs.Jobs) != 3 {
			t.Fatalf("jobs after the refused calls: %d, %v; want the first call's 3", len(jobs.Jobs), err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Stop(context.Background()) })
		if o := testutil.Receive(t, outcomes, "the first batch's callback", nil); o.BatchID != "dup" || o.Total != 2 || o.Completed != 2 {
			t.Errorf("the first batch's callback saw %+v; want its 2 jobs completed", o)
		}
	})
}

// delayedCallbackArgs carries its own RunIn, which a batch callback refuses.
type delayedCallbackArgs struct{}

func (delayedCallbackArgs) Kind() string { return "delayed_callback" }
func (delayedCallbackArgs) EnqueueOpts() kiln.EnqueueOpts {
	return kiln.EnqueueOpts{RunIn: time.Hour}
}

// uniqueItemArgs is unique by its own options, which a batch's job refuses.
type uniqueItemArgs struct{}

func (uniqueItemArgs) Kind() string { return "unique_item" }
func (uniqueItemArgs) EnqueueOpts() kiln.EnqueueOpts {
	return kiln.EnqueueOpts{Unique: &kiln.UniqueOpts{}}
}

// TestEnqueueBatchRefusesWhatTheBatchDecides: the options a batch decides
// for its callback (when it runs, what it waits for, that it exists) and
// uniqueness of its jobs are refused with a *ValidationError naming the
// option, from EnqueueOpts or the args' own, and nothing is enqueued. On
// both stores they used to be accepted: a unique callback that matched a
// waiting job was not inserted (EnqueueBatch returned that unrelated job
// as the callback, and the batch had none); RunIn was dropped; a unique
// duplicate among the jobs was not a member, yet the callback waited for
// the job that held the key, so BatchGet said Finished with the callback
// pending.
func TestEnqueueBatchRefusesWhatTheBatchDecides(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		workers := kiln.NewWorkers()
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[batchItemArgs]) error { return nil }))
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[callbackArgs]) error { return nil }))
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[delayedCallbackArgs]) error { return nil }))
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[uniqueItemArgs]) error { return nil }))
		cfg := fastConfigFor(st, workers, nil)
		c, err := kiln.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		// Waiting jobs that hold the keys the refused enqueues would match.
		cbKey := &kiln.UniqueOpts{Key: "cb"}
		itemKey := &kiln.UniqueOpts{Key: "x"}
		other := clienttest.Enqueue(t, c, callbackArgs{}, &kiln.EnqueueOpts{Unique: cbKey})
		clienttest.Enqueue(t, c, batchItemArgs{N: 7}, &kiln.EnqueueOpts{RunIn: time.Hour, Unique: itemKey})
		clienttest.Enqueue(t, c, uniqueItemArgs{}, nil)
		items := []kiln.EnqueueParams{{Args: batchItemArgs{N: 1}}}
		for _, tc := range []struct {
			name     string
			jobs     []kiln.EnqueueParams
			callback kiln.JobArgs
			opts     *kiln.EnqueueOpts
			field    string
		}{
			{"unique callback", items, callbackArgs{}, &kiln.EnqueueOpts{Unique: cbKey}, "unique"},
			{"unique replace callback", items, callbackArgs{}, &kiln.EnqueueOpts{Unique: &kiln.UniqueOpts{Key: "cb", Replace: kiln.UniqueReplace{Args: true}}}, "unique"},
			{"callback RunIn", items, callbackArgs{}, &kiln.EnqueueOpts{RunIn: 24 * time.Hour}, "run_in"},
			{"callback RunAt", items, callbackArgs{}, &kiln.EnqueueOpts{RunAt: time.Now().Add(time.Hour)}, "run_at"},
			{"callback args' RunIn", items, delayedCallbackArgs{}, nil, "run_in"},
			{"callback Parents", items, callbackArgs{}, &kiln.EnqueueOpts{Parents: []int64{other.ID}}, "parents"},
			{"callback ParentFailure", items, callbackArgs{}, &kiln.EnqueueOpts{ParentFailure: kiln.ParentFailureCancel}, "parent_failure"},
			{"unique job", append([]kiln.EnqueueParams{{Args: batchItemArgs{N: 7}, Opts: &kiln.EnqueueOpts{RunIn: time.Hour, Unique: itemKey}}}, items...), callbackArgs{}, nil, "unique"},
			{"unique job without callback", []kiln.EnqueueParams{{Args: batchItemArgs{N: 7}, Opts: &kiln.EnqueueOpts{Unique: itemKey}}}, nil, nil, "unique"},
			{"job unique by its args' options", []kiln.EnqueueParams{{Args: uniqueItemArgs{}}}, callbackArgs{}, nil, "unique"},
		} {
			_, err := c.EnqueueBatch(ctx, tc.jobs, &kiln.BatchOpts{Callback: tc.callback, CallbackOpts: tc.opts})
			wantInvalid(t, tc.name, err, tc.field)
		}
		if jobs, err := c.JobList(ctx, nil); err != nil || len(jobs.Jobs) != 3 {
			t.Errorf("jobs after the refused batches: %d, %v; want the 3 enqueued before", len(jobs.Jobs), err)
		}
		// What a callback may set still applies.
		b, err := c.EnqueueBatch(ctx, items, &kiln.BatchOpts{Callback: callbackArgs{},
			CallbackOpts: &kiln.EnqueueOpts{Queue: "reports", Priority: 3, Tags: []string{"done"}}})
		if err != nil {
			t.Fatal(err)
		}
		if cb := b.Callback; cb.Queue != "reports" || cb.Priority != 3 || len(cb.Tags) != 1 || cb.State != kiln.JobStatePending {
			t.Errorf("callback %+v", cb)
		}
	})
}
