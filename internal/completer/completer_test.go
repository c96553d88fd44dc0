package completer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeStore fails JobFinishMany while fail says so.
type fakeStore struct {
	store.Store
	mu    sync.Mutex
	calls int
	fail  func(call int, ids []int64) bool
}

// SingleWriter reports false: the Completer writes with several writers.
func (*fakeStore) SingleWriter() bool { return false }

func (f *fakeStore) JobFinishMany(_ context.Context, params []*store.JobFinishParams) ([]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	var ids []int64
	for _, p := range params {
		ids = append(ids, p.ID)
	}
	if f.fail(f.calls, ids) {
		return nil, errors.New("rejected")
	}
	return ids, nil
}

// finish writes items with ids through a started completer and returns,
// per id, whether its outcome applied.
func finish(t *testing.T, s store.Store, ids ...int64) map[int64]bool {
	t.Helper()
	c := New(s, slog.New(slog.NewTextHandler(io.Discard, nil)), 100)
	var mu sync.Mutex
	var wg sync.WaitGroup
	got := map[int64]bool{}
	items := make([]*outcome, len(ids))
	for i, id := range ids {
		wg.Add(1)
		items[i] = &outcome{Row: &kilntype.JobRow{ID: id}, Params: &store.JobFinishParams{ID: id}, Done: func(applied bool) {
			mu.Lock()
			got[id] = applied
			mu.Unlock()
			wg.Done()
		}}
	}
	// One write of the whole batch: queue every item before the writer runs.
	for _, it := range items {
		c.Finish(it)
	}
	c.Start(context.Background())
	defer c.Stop()
	wg.Wait()
	return got
}

func TestOneRejectedOutcomeDoesNotHoldBackTheOthers(t *testing.T) {
	s := &fakeStore{fail: func(_ int, ids []int64) bool { return slices.Contains(ids, 2) }}
	got := finish(t, s, 1, 2, 3)
	if !got[1] || got[2] || !got[3] || len(got) != 3 {
		t.Fatalf("applied = %v; want 1 and 3 applied, 2 given up", got)
	}
}

func TestOutageIsRetriedUntilTheStoreIsBack(t *testing.T) {
	s := &fakeStore{fail: func(call int, _ []int64) bool { return call <= 8 }}
	got := finish(t, s, 1, 2, 3, 4, 5)
	for id := int64(1); id <= 5; id++ {
		if !got[id] {
			t.Fatalf("applied = %v; want every outcome written once the store is back", got)
		}
	}
}

// blockingStore reports each JobFinishMany's IDs on calls, then holds the
// call until release receives.
type blockingStore struct {
	store.Store
	calls   chan []int64
	release chan struct{}
}

// SingleWriter reports false: the Completer writes with several writers.
func (*blockingStore) SingleWriter() bool { return false }

func newBlockingStore() *blockingStore {
	return &blockingStore{calls: make(chan []int64, 10), release: make(chan struct{})}
}

func (b *blockingStore) JobFinishMany(_ context.Context, params []*store.JobFinishParams) ([]int64, error) {
	var ids []int64
	for _, p := range params {
		ids = append(ids, p.ID)
	}
	b.calls <- ids
	<-b.release
	return ids, nil
}

// nextCall returns the IDs of the next JobFinishMany, failing the test
// after 10 s.
func (b *blockingStore) nextCall(t *testing.T) []int64 {
	t.Helper()
	select {
	case ids := <-b.calls:
		return ids
	case <-time.After(10 * time.Second):
		t.Fatal("no write within 10 s")
		return nil
	}
}

// outcome is the tests' Item: Finished calls Done, if set.
type outcome struct {
	Row    *kilntype.JobRow
	Params *store.JobFinishParams
	Done   func(applied bool)
}

func (o *outcome) Outcome() (*kilntype.JobRow, *store.JobFinishParams) { return o.Row, o.Params }

func (o *outcome) Finished(applied bool) {
	if o.Done != nil {
		o.Done(applied)
	}
}

// item returns an outcome of job id, attempt n, whose Done calls wg.Done.
func item(id int64, n int, wg *sync.WaitGroup) *outcome {
	wg.Add(1)
	return &outcome{Row: &kilntype.JobRow{ID: id}, Params: &store.JobFinishParams{ID: id, Attempt: kilntype.JobAttempt{Attempt: n}},
		Done: func(bool) { wg.Done() }}
}

// ids returns first, first+1, ..., first+n-1.
func ids(first int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

// startWriting starts a Completer on a blockingStore and finishes job 1
// (attempt 1) with it: with no write under way, that outcome is written
// alone, at once, and the store holds its write.
func startWriting(t *testing.T, wg *sync.WaitGroup) (*blockingStore, *Completer) {
	t.Helper()
	s := newBlockingStore()
	c := New(s, slog.New(slog.NewTextHandler(io.Discard, nil)), 2*ParallelBatch)
	c.Start(context.Background())
	c.Finish(item(1, 1, wg))
	if got := s.nextCall(t); !slices.Equal(got, []int64{1}) {
		t.Fatalf("first write = %v, want job 1", got)
	}
	return s, c
}

func TestSecondBatchWrittenWhileFirstCommits(t *testing.T) {
	var wg sync.WaitGroup
	s, c := startWriting(t, &wg)
	defer c.Stop()
	// Job 1's write is held; a batch of ParallelBatch outcomes goes out
	// beside it.
	for _, id := range ids(100, ParallelBatch) {
		c.Finish(item(id, 1, &wg))
	}
	if got := s.nextCall(t); !slices.Equal(got, ids(100, ParallelBatch)) {
		t.Fatalf("second write = %v, want jobs 100 to %d while job 1's is under way", got, 100+ParallelBatch-1)
	}
	s.release <- struct{}{}
	s.release <- struct{}{}
	wg.Wait()
}

// While every writer is busy, outcomes wait in the queue: the collecting
// goroutine is not woken for each (no batch could go out before a writer
// returns), and takes them together when a writer returns.
func TestOutcomesWaitInTheQueueWhileEveryWriterIsBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		s, c := startWriting(t, &wg)
		defer c.Stop()
		for _, id := range ids(100, ParallelBatch) {
			c.Finish(item(id, 1, &wg))
		}
		if got := s.nextCall(t); !slices.Equal(got, ids(100, ParallelBatch)) {
			t.Fatalf("second write = %v, want jobs 100 to %d", got, 100+ParallelBatch-1)
		}
		// Both writers are busy.
		for _, id := range ids(1000, 10) {
			c.Finish(item(id, 1, &wg))
		}
		synctest.Wait()
		if n := len(c.in); n != 10 {
			t.Fatalf("%d of 10 outcomes in the queue while every writer is busy, want all 10", n)
		}
		s.release <- struct{}{}
		s.release <- struct{}{}
		if got := s.nextCall(t); !slices.Equal(got, ids(1000, 10)) {
			t.Fatalf("third write = %v, want jobs 1000 to 1009", got)
		}
		s.release <- struct{}{}
		wg.Wait()
	})
}

// While a write is under way, a batch beside it goes out only once it holds
// ParallelBatch outcomes: until then they wait in the queue, and the
// collecting goroutine is woken once, by the outcome that makes the batch,
// not by each (measured: 0.17 wake-ups per job in a PostgreSQL burn-down).
func TestOutcomesWaitInTheQueueForAParallelBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		s, c := startWriting(t, &wg) // one writer busy, one free
		defer c.Stop()
		synctest.Wait() // the collecting goroutine waits
		for _, id := range ids(100, ParallelBatch-1) {
			c.Finish(item(id, 1, &wg))
		}
		synctest.Wait()
		if n := len(c.in); n != ParallelBatch-1 {
			t.Fatalf("%d of %d outcomes in the queue while a batch beside a write needs %d, want all of them",
				n, ParallelBatch-1, ParallelBatch)
		}
		c.Finish(item(100+ParallelBatch-1, 1, &wg))
		if got := s.nextCall(t); !slices.Equal(got, ids(100, ParallelBatch)) {
			t.Fatalf("second write = %v, want jobs 100 to %d", got, 100+ParallelBatch-1)
		}
		s.release <- struct{}{}
		s.release <- struct{}{}
		wg.Wait()
	})
}

func TestOutcomesOfOneJobWrittenOneAfterTheOther(t *testing.T) {
	var wg sync.WaitGroup
	s, c := startWriting(t, &wg) // job 1's first outcome: a stale copy's
	defer c.Stop()
	c.Finish(item(1, 2, &wg)) // the newer claim's: must wait for the first
	for _, id := range ids(100, ParallelBatch) {
		c.Finish(item(id, 1, &wg))
	}
	if got := s.nextCall(t); !slices.Equal(got, ids(100, ParallelBatch)) {
		t.Fatalf("second write = %v, want jobs 100 to %d without job 1: its second outcome must wait for its first",
			got, 100+ParallelBatch-1)
	}
	s.release <- struct{}{} // one of the two writes returns; job 1's second outcome follows once its first is written
	s.release <- struct{}{}
	if got := s.nextCall(t); !slices.Equal(got, []int64{1}) {
		t.Fatalf("third write = %v, want job 1's second outcome", got)
	}
	s.release <- struct{}{}
	wg.Wait()
}

// orderStore records, in the order written, the attempt number of each
// outcome of job 0.
type orderStore struct {
	store.Store
	mu       sync.Mutex
	attempts []int
}

// SingleWriter reports false: the Completer writes with several writers.
func (*orderStore) SingleWriter() bool { return false }

func (o *orderStore) JobFinishMany(_ context.Context, params []*store.JobFinishParams) ([]int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ids []int64
	for _, p := range params {
		if p.ID == 0 {
			o.attempts = append(o.attempts, p.Attempt.Attempt)
		}
		ids = append(ids, p.ID)
	}
	return ids, nil
}

func TestOutcomesOfOneJobWrittenInOrderUnderLoad(t *testing.T) {
	s := &orderStore{}
	c := New(s, slog.New(slog.NewTextHandler(io.Discard, nil)), 10)
	c.Start(context.Background())
	defer c.Stop()
	var wg sync.WaitGroup
	// Outcomes of job 0 among those of other jobs, which keep every writer
	// busy.
	const rounds = 200
	for i := range rounds {
		for id := range int64(5) {
			c.Finish(item(id, i, &wg))
		}
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.attempts) != rounds || !slices.IsSorted(s.attempts) {
		t.Fatalf("job 0's outcomes were written in the order %v; want 0 to %d in order", s.attempts, rounds-1)
	}
}

// singleWriterStore is a blockingStore that reports itself a
// single writer (store.Store.SingleWriter).
type singleWriterStore struct{ *blockingStore }

func (singleWriterStore) SingleWriter() bool { return true }

func TestSingleWriterGathersABatchBeforeWriting(t *testing.T) {
	s := singleWriterStore{newBlockingStore()}
	c := New(s, slog.New(slog.NewTextHandler(io.Discard, nil)), 0) // each Finish waits for run to take it
	c.linger = time.Hour                                           // only a full SingleWriterBatch goes out
	c.Start(context.Background())
	defer c.Stop()
	defer func() {
		if t.Failed() {
			close(s.release) // lets Stop return
		}
	}()
	var wg sync.WaitGroup
	for _, id := range ids(1, SingleWriterBatch) {
		c.Finish(item(id, 1, &wg))
	}
	if got := s.nextCall(t); !slices.Equal(got, ids(1, SingleWriterBatch)) {
		t.Fatalf("first write = %d outcomes %v, want jobs 1 to %d in one batch", len(got), got, SingleWriterBatch)
	}
	// One writer: outcomes that arrive meanwhile wait for it, and a lone
	// one goes out once the linger is over.
	c.Finish(item(1000, 1, &wg))
	c.linger = time.Millisecond // read by run only when a linger starts: after the release below
	s.release <- struct{}{}
	if got := s.nextCall(t); !slices.Equal(got, []int64{1000}) {
		t.Fatalf("second write = %v, want job 1000", got)
	}
	s.release <- struct{}{}
	wg.Wait()
}

// A batch that was written is emptied and gathered into again: gathering
// and handing out batches allocates nothing once the gatherer has its
// spare batches (a new batch of MaxBatch pointers each time was 4 KB per
// write, ~50 bytes per job in a PostgreSQL burn-down).
func TestGatheringReusesWrittenBatches(t *testing.T) {
	g := newGatherer(Writers, 1)
	var items []*outcome
	for id := range int64(100) {
		items = append(items, &outcome{Params: &store.JobFinishParams{ID: id}})
	}
	round := func() {
		for _, it := range items[:50] {
			g.add(it)
		}
		first := g.take()
		for _, it := range items[50:] {
			g.add(it)
		}
		second := g.take()
		g.written(first)
		g.written(second)
	}
	round() // the spares
	if allocs := testing.AllocsPerRun(100, round); allocs != 0 {
		t.Fatalf("%.1f allocations per two batches gathered and written, want 0", allocs)
	}
	for _, b := range g.spare {
		for _, it := range b[:cap(b)] {
			if it != nil {
				t.Fatalf("a spare batch still points to the outcome of job %d", jobID(it))
			}
		}
	}
}
