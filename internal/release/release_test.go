package release

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeStore is the DependencyStore of these tests: JobResolvePending
// records the parents of each call and answers with the rows that next
// gives it (none when next is nil), or with fail's error while it is set.
type fakeStore struct {
	store.DependencyStore // BatchGet: not called

	mu    sync.Mutex
	calls [][]int64
	ok    []int64 // the parents of the calls that succeeded
	next  func(call int, p *store.JobResolvePendingParams) []*kilntype.JobRow
	fail  error
}

func (s *fakeStore) JobResolvePending(_ context.Context, p *store.JobResolvePendingParams) ([]*kilntype.JobRow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, slices.Clone(p.Parents))
	if s.fail != nil {
		return nil, s.fail
	}
	if p.Max != batch {
		return nil, errors.New("Max is not the batch size")
	}
	s.ok = append(s.ok, p.Parents...)
	if s.next == nil {
		return nil, nil
	}
	return s.next(len(s.calls), p), nil
}

func (s *fakeStore) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// parents returns the parents of every call so far, sorted within each call.
func (s *fakeStore) parents() [][]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]int64, len(s.calls))
	for i, c := range s.calls {
		out[i] = slices.Sorted(slices.Values(c))
	}
	return out
}

// rows returns n job rows with IDs from first.
func rows(first int64, n int) []*kilntype.JobRow {
	out := make([]*kilntype.JobRow, n)
	for i := range out {
		out[i] = &kilntype.JobRow{ID: first + int64(i)}
	}
	return out
}

// releasedLog collects what OnReleased was given.
type releasedLog struct {
	mu  sync.Mutex
	ids []int64
}

func (l *releasedLog) add(rows []*kilntype.JobRow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rows {
		l.ids = append(l.ids, r.ID)
	}
}

func (l *releasedLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids)
}

func newReleaser(t *testing.T, st *fakeStore, released *releasedLog) (*Releaser, *enginetest.Log) {
	t.Helper()
	logger, log := enginetest.NewLogger()
	clock := enginetest.NewClock()
	r := New(Config{Store: st, Now: clock.Now, Logger: logger, OnReleased: released.add})
	r.Start(t.Context())
	t.Cleanup(r.Stop)
	return r, log
}

// TestReleasesChildrenOfAddedJobs checks that the children of the jobs
// given to Add are released in one call restricted to those parents, and
// reported to OnReleased.
func TestReleasesChildrenOfAddedJobs(t *testing.T) {
	t.Parallel()
	st := &fakeStore{next: func(_ int, p *store.JobResolvePendingParams) []*kilntype.JobRow {
		return rows(p.Parents[0]*10, len(p.Parents))
	}}
	var released releasedLog
	r, _ := newReleaser(t, st, &released)
	r.Add(7)
	testutil.Eventually(t, "the children of job 7 released", func() bool { return released.count() == 1 })
	r.Add(8)
	testutil.Eventually(t, "the children of job 8 released", func() bool { return released.count() == 2 })
	if got := st.parents(); !slices.EqualFunc(got, [][]int64{{7}, {8}}, slices.Equal) {
		t.Errorf("calls with parents %v, want [[7] [8]]", got)
	}
	released.mu.Lock()
	defer released.mu.Unlock()
	if !slices.Equal(released.ids, []int64{70, 80}) {
		t.Errorf("OnReleased got %v, want [70 80]", released.ids)
	}
}

// TestFullBatchCallsAgain checks that a call that releases a full batch is
// followed at once by another, until one releases fewer.
func TestFullBatchCallsAgain(t *testing.T) {
	t.Parallel()
	st := &fakeStore{next: func(call int, _ *store.JobResolvePendingParams) []*kilntype.JobRow {
		if call <= 2 {
			return rows(int64(call)*batch, batch)
		}
		return rows(1, 3)
	}}
	var released releasedLog
	r, _ := newReleaser(t, st, &released)
	r.Add(1)
	testutil.Eventually(t, "two full batches and a last one released", func() bool { return released.count() == 2*batch+3 })
	if got := st.parents(); len(got) != 3 || !slices.Equal(got[2], []int64{1}) {
		t.Errorf("calls with parents %v, want three calls for parent 1", got)
	}
}

// TestFailedCallRetriedWithNextAdd checks that a failed call is logged and
// that its parents are kept: a later pass (woken by the next Add) asks for
// their children again.
func TestFailedCallRetriedWithNextAdd(t *testing.T) {
	t.Parallel()
	st := &fakeStore{}
	st.setFail(errors.New("database down"))
	var released releasedLog
	r, log := newReleaser(t, st, &released)
	r.Add(1)
	r.Add(2)
	testutil.Eventually(t, "a logged failure", func() bool { return len(log.Records("releasing continuations")) > 0 })
	st.setFail(nil)
	r.Add(3)
	testutil.Eventually(t, "successful calls for parents 1, 2 and 3", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return slices.Equal(slices.Sorted(slices.Values(st.ok)), []int64{1, 2, 3})
	})
}

// TestAddBounded checks that Add keeps at most maxParents parents waiting
// (the resolver releases the children of the rest) and never blocks.
func TestAddBounded(t *testing.T) {
	t.Parallel()
	r := New(Config{Store: &fakeStore{}, Now: time.Now})
	for id := range int64(maxParents + 5) {
		r.Add(id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.parents) != maxParents {
		t.Errorf("%d parents waiting, want %d", len(r.parents), maxParents)
	}
}

// TestNilReleaser checks that a nil Releaser's methods do nothing.
func TestNilReleaser(t *testing.T) {
	t.Parallel()
	var r *Releaser
	r.Start(t.Context())
	r.Add(1)
	r.Stop()
}
