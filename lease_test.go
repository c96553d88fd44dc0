package kiln_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// renewFailingStore fails lease renewals while fail is set, as a database
// hiccup would.
type renewFailingStore struct {
	*sqlite.Store
	fail atomic.Bool
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
	st := &renewFailingStore{Store: openStore(t, "")}
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
	// The first copy has returned success by now or will soon: the job must
	// stay running, held by the second copy.
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if row, _ := c.JobGet(context.Background(), job.ID); row.State != kiln.JobStateRunning || row.Attempt != 2 {
			t.Fatalf("while the second copy runs: state %s attempt %d", row.State, row.Attempt)
		}
	}
	close(release)
	if row := clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted); row.Attempt != 2 {
		t.Fatalf("completed at attempt %d, want 2", row.Attempt)
	}
}
