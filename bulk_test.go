package kiln_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store"
)

// TestJobBulk cancels every job of one kind through a bulk operation,
// retries the cancelled ones of that kind in one queue, moves them, and
// deletes the rest, on a client that is not started; the counts of
// JobCountMatching agree with what each operation found.
func TestJobBulk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[otherArgs]) error { return nil }))
	c := clienttest.New(t, workers, newClock(), false, false)
	var tests, others []int64
	for i := range 30 {
		q := "a"
		if i%3 == 0 {
			q = "b"
		}
		tests = append(tests, clienttest.Enqueue(t, c, testArgs{N: i}, &kiln.EnqueueOpts{Queue: q}).ID)
		others = append(others, clienttest.Enqueue(t, c, otherArgs{}, nil).ID)
	}
	filter := kiln.JobFilter{Kinds: []string{"test"}}
	if n, err := c.JobCountMatching(ctx, &filter); err != nil || n != 30 {
		t.Fatalf("JobCountMatching(kind test) = %d, %v; want 30", n, err)
	}
	for _, tc := range []struct {
		limit int
		n     int
		exact bool
	}{{10, 10, false}, {29, 29, false}, {30, 30, true}, {100, 30, true}} {
		if n, exact, err := c.JobCountMatchingBounded(ctx, &filter, tc.limit); err != nil || n != tc.n || exact != tc.exact {
			t.Errorf("JobCountMatchingBounded(kind test, %d) = %d, %v, %v; want %d, %v", tc.limit, n, exact, err, tc.n, tc.exact)
		}
	}
	// States and queues only: exact from the counters, whatever the limit.
	if n, exact, err := c.JobCountMatchingBounded(ctx, &kiln.JobFilter{Queues: []string{"a"}}, 5); err != nil || n != 20 || !exact {
		t.Errorf("JobCountMatchingBounded(queue a, 5) = %d, %v, %v; want 20, exact", n, exact, err)
	}
	op, err := c.JobBulk(ctx, &kiln.BulkParams{Action: kiln.BulkCancel, Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	op = clienttest.WaitBulk(t, c, op.ID)
	if op.State != kiln.BulkCompleted || op.Matched != 30 || op.Changed != 30 {
		t.Fatalf("bulk cancel: %+v", op)
	}
	// Counted from the counters: states and queues only.
	cancelledB := kiln.JobFilter{States: []kiln.JobState{kiln.JobStateCancelled}, Queues: []string{"b"}}
	if n, err := c.JobCountMatching(ctx, &cancelledB); err != nil || n != 10 {
		t.Fatalf("JobCountMatching(cancelled in b) = %d, %v; want 10", n, err)
	}
	retry := kiln.JobFilter{States: []kiln.JobState{kiln.JobStateCancelled}, Kinds: []string{"test"}, Queues: []string{"b"}}
	op, err = c.JobBulk(ctx, &kiln.BulkParams{Action: kiln.BulkRetry, Filter: retry})
	if err != nil {
		t.Fatal(err)
	}
	if op = clienttest.WaitBulk(t, c, op.ID); op.Changed != 10 {
		t.Fatalf("bulk retry: %+v", op)
	}
	for i, id := range tests {
		want := kiln.JobStateCancelled
		if i%3 == 0 {
			want = kiln.JobStateAvailable
		}
		clienttest.WaitState(t, c, id, want)
	}
	op, err = c.JobBulk(ctx, &kiln.BulkParams{Action: kiln.BulkMove, TargetQueue: "c",
		Filter: kiln.JobFilter{States: []kiln.JobState{kiln.JobStateAvailable}, Kinds: []string{"test"}}})
	if err != nil {
		t.Fatal(err)
	}
	if op = clienttest.WaitBulk(t, c, op.ID); op.Changed != 10 {
		t.Fatalf("bulk move: %+v", op)
	}
	if n, _ := c.JobCountMatching(ctx, &kiln.JobFilter{Queues: []string{"c"}}); n != 10 {
		t.Errorf("%d jobs in queue c after the move, want 10", n)
	}
	op, err = c.JobBulk(ctx, &kiln.BulkParams{Action: kiln.BulkDelete, Filter: kiln.JobFilter{Kinds: []string{"other"}}})
	if err != nil {
		t.Fatal(err)
	}
	if op = clienttest.WaitBulk(t, c, op.ID); op.Changed != 30 {
		t.Fatalf("bulk delete: %+v", op)
	}
	if _, err := c.JobGet(ctx, others[0]); !errors.Is(err, kiln.ErrNotFound) {
		t.Errorf("JobGet of a deleted job: %v", err)
	}
	list, err := c.JobBulkList(ctx, 0, 0)
	if err != nil || len(list) != 4 || list[0].Action != kiln.BulkDelete {
		t.Errorf("JobBulkList = %v, %v", list, err)
	}
	// Invalid operations are refused before anything is stored.
	var ve *kiln.ValidationError
	if _, err := c.JobBulk(ctx, &kiln.BulkParams{Action: kiln.BulkMove}); !errors.As(err, &ve) || ve.Field != "target_queue" {
		t.Errorf("a move without a queue: %v", err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.JobBulk(ctx, &kiln.BulkParams{Action: kiln.BulkRetry}); err == nil {
		t.Error("JobBulk after Stop: no error")
	}
}

// slowBatchStore holds every bulk batch until release is closed, as a
// database too loaded to answer for minutes would.
type slowBatchStore struct {
	store.Store
	entered chan struct{}
	release chan struct{}
}

func (s *slowBatchStore) BulkRunBatch(ctx context.Context, p *store.BulkRunBatchParams) (*store.BulkBatchResult, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.BulkRunBatch(ctx, p)
}

// TestJobBulkSlowBatchIsNotInterrupted: an operation whose batch takes
// longer than BulkStaleAfter is shown running by the process that runs
// it (its goroutine is alive), not interrupted; it then completes. Under
// a load of 30, the dashboard's bulk retry of 20,000 jobs showed
// "interrupted" that way.
func TestJobBulkSlowBatchIsNotInterrupted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	st := &slowBatchStore{Store: clienttest.OpenStore(t), entered: make(chan struct{}, 1), release: make(chan struct{})}
	clock := newClock()
	c := clienttest.NewOn(t, st, workers, clock, false, false)
	for i := range 3 {
		clienttest.Enqueue(t, c, testArgs{N: i}, nil)
	}
	op, err := c.JobBulk(ctx, &kiln.BulkParams{Action: kiln.BulkCancel, Filter: kiln.JobFilter{Kinds: []string{"test"}}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, st.entered, "the operation's first batch", nil)
	clock.Advance(2 * kiln.BulkStaleAfter)
	if got, err := c.JobBulkGet(ctx, op.ID); err != nil || got.State != kiln.BulkRunning {
		t.Fatalf("JobBulkGet during a batch older than BulkStaleAfter, in its own process: %+v, %v; want running", got, err)
	}
	if ops, err := c.JobBulkList(ctx, 0, 0); err != nil || len(ops) != 1 || ops[0].State != kiln.BulkRunning {
		t.Fatalf("JobBulkList: %v, %v; want the operation running", ops, err)
	}
	close(st.release)
	if op = clienttest.WaitBulk(t, c, op.ID); op.State != kiln.BulkCompleted || op.Changed != 3 {
		t.Fatalf("after the batch: %+v; want completed, 3 changed", op)
	}
}
