package kiln_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// renewFailingStore fails lease renewals while fail is set, as a database
// hiccup would. Once the store has written a batch of outcomes that holds
// the first attempt's, it sends on firstFinished (if not nil).
type renewFailingStore struct {
	*sqlite.Store
	fail          atomic.Bool
	firstFinished chan struct{}
	// healOnReclaim ends the failures (fail) when a job is claimed for a
	// second attempt or later: only the copy whose lease the test lets
	// lapse sees its renewals fail, however long a loaded machine takes to
	// run the next copy.
	healOnReclaim bool
}

func (s *renewFailingStore) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	rows, err := s.Store.JobClaim(ctx, p)
	if s.healOnReclaim && slices.ContainsFunc(rows, func(j *kilntype.JobRow) bool { return j.Attempt > 1 }) {
		s.fail.Store(false)
	}
	return rows, err
}

func (s *renewFailingStore) JobFinishMany(ctx context.Context, ps []*store.JobFinishParams) ([]int64, error) {
	ids, err := s.Store.JobFinishMany(ctx, ps)
	if s.firstFinished != nil && slices.ContainsFunc(ps, func(p *store.JobFinishParams) bool { return p.Attempt.Attempt == 1 }) {
		select {
		case s.firstFinished <- struct{}{}:
		default:
		}
	}
	return ids, err
}

func (s *renewFailingStore) JobLeaseRenew(ctx context.Context, p *store.JobLeaseRenewParams) ([]int64, error) {
	if s.fail.Load() {
		return nil, errors.New("database hiccup")
	}
	return s.Store.JobLeaseRenew(ctx, p)
}

// TestStaleCopyCannotFinishAReclaimedJob lets a running job's lease lapse,
// so that the rescuer takes it back and the same process claims it again,
// and checks that the first copy, which ignores its cancellation and
// returns success, does not complete the job under the second copy.
func TestStaleCopyCannotFinishAReclaimedJob(t *testing.T) {
	t.Parallel()
	st := &renewFailingStore{Store: openStore(t, ""), firstFinished: make(chan struct{}, 1)}
	st.fail.Store(true)
	started := make(chan int, 2)
	release := make(chan struct{})
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
		started <- job.Attempt
		if job.Attempt == 1 {
			<-ctx.Done() // cancelled when the job is claimed again...
			return nil   // ...and claims success anyway
		}
		<-release
		return nil
	}))
	cfg := fastConfig(nil, workers, nil)
	// The first copy's lease lapses on purpose (its renewals fail); the
	// second copy's must not, even on a loaded machine whose heartbeats run
	// late: 5 s leaves room for that, where 1 s did not (attempt 3).
	cfg.Store, cfg.RetryPolicy, cfg.LeaseDuration = st, nil, 5*time.Second
	c := startClient(t, cfg)
	job := clienttest.Enqueue(t, c, testArgs{}, nil)
	if n := <-started; n != 1 {
		t.Fatalf("first attempt %d", n)
	}
	if n := <-started; n != 2 {
		t.Fatalf("second attempt %d", n)
	}
	st.fail.Store(false)
	// The first copy returns success once it is cancelled; once the store
	// has written that outcome, the job must still be running, held by the
	// second copy.
	testutil.Receive(t, st.firstFinished, "the first copy's outcome to be written", nil)
	if row, err := c.JobGet(context.Background(), job.ID); err != nil || row.State != kiln.JobStateRunning || row.Attempt != 2 {
		t.Fatalf("after the first copy's outcome, while the second copy runs: %+v, %v; want running attempt 2", row, err)
	}
	close(release)
	if row := clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted); row.Attempt != 2 {
		t.Fatalf("completed at attempt %d, want 2", row.Attempt)
	}
}
