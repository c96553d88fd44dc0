package kiln_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// TestPostgresClockSkew runs two clients on one PostgreSQL schema whose
// clocks stand 20 minutes apart: A's 10 minutes behind, B's 10 minutes
// ahead. A runs a job across several lease renewals while B looks for
// expired leases every 10 ms, and both offer one singleton service. B must
// not take A's job, and the service must never run in both at once: the
// store times leases and terms on the database's clock, not the clients'.
func TestPostgresClockSkew(t *testing.T) {
	t.Parallel()
	const skew = 10 * time.Minute
	url := pgtest.URL(t)
	schema := pgtest.Schema(t)
	stA := openPostgres(t, url, schema, true)
	stB := openPostgres(t, url, schema, false)

	var running, most atomic.Int32
	service := kiln.HostedService{Name: "mailer", Singleton: true, Run: func(ctx context.Context) error {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-ctx.Done()
		running.Add(-1)
		return nil
	}}
	config := func(st *postgres.Store, workers *kiln.Workers, clock kiln.Clock) *kiln.Config {
		return &kiln.Config{
			Store: st, Workers: workers, Clock: clock, HostedServices: []kiln.HostedService{service},
			// Renewals every 1.7 s and 1 s leave margins of seconds, which
			// a loaded machine does not eat.
			LeaseDuration: 5 * time.Second, LeaderTTL: 3 * time.Second,
			// A's job is held until the test has seen two renewals, for
			// up to testutil.Timeout (three minutes): with JobTimeout's default
			// minute it could time out first on a loaded machine, and the
			// test would report B's theft of a job that had only failed.
			JobTimeout:     -1,
			RescueInterval: 10 * time.Millisecond, FetchPollInterval: 10 * time.Millisecond,
			RetryPolicy: fixedBackoff(time.Hour),
		}
	}
	started := make(chan int64, 1)
	release := make(chan struct{})
	workersA := kiln.NewWorkers()
	kiln.AddWorker(workersA, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
		started <- job.ID
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	workersB := kiln.NewWorkers() // no worker for A's job: B only rescues
	kiln.AddWorker(workersB, kiln.WorkFunc(noWork[otherArgs]))
	now := time.Now()
	a := startClient(t, config(stA, workersA, kilntest.NewClock(now.Add(-skew))))
	b := startClient(t, config(stB, workersB, kilntest.NewClock(now.Add(skew))))

	job := clienttest.Enqueue(t, a, testArgs{N: 1}, nil)
	testutil.Receive(t, started, "A to start the job", nil)
	// Until A has renewed the lease twice (3.3 s), the job must stay A's.
	leaseEnds := map[time.Time]bool{}
	testutil.EventuallyNil(t, "A to renew the lease twice", func() error {
		row, err := b.JobGet(context.Background(), job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if row.State != kiln.JobStateRunning || row.LeasedBy != a.ID() {
			t.Fatalf("job is %s, leased by %q, while A runs it and renews its lease (last error %q): "+
				"B, 20 minutes ahead, took it", row.State, row.LeasedBy, row.LastError)
		}
		if leaseEnds[*row.LeaseExpiresAt] = true; len(leaseEnds) < 3 {
			return fmt.Errorf("A renewed it %d times", len(leaseEnds)-1)
		}
		return nil
	})
	close(release)
	clienttest.WaitState(t, a, job.ID, kiln.JobStateCompleted)
	attempts, err := a.JobAttempts(context.Background(), job.ID)
	if err != nil || len(attempts) != 1 || attempts[0].Outcome != kilntype.AttemptSucceeded {
		t.Fatalf("attempts %+v, %v; want one, succeeded", attempts, err)
	}
	switch n := most.Load(); n {
	case 0:
		t.Error("the singleton service never ran")
	case 1:
	default:
		t.Errorf("the singleton service ran in %d processes at once", n)
	}
}
