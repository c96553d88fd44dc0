package completer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

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
	items := make([]*Item, len(ids))
	for i, id := range ids {
		wg.Add(1)
		items[i] = &Item{Row: &kilntype.JobRow{ID: id}, Params: &store.JobFinishParams{ID: id}, Done: func(applied bool) {
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
