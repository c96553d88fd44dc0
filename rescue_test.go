package kiln_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// childEnv, when set to a database path, turns the test binary into a Kiln
// process that runs "test" jobs forever: the process the test kills.
const childEnv = "KILN_TEST_CHILD_DB"

const childID = "child-process"

func runChild() int {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, os.Getenv(childEnv), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
		<-ctx.Done() // runs until killed
		return ctx.Err()
	}))
	c, err := kiln.NewClient(&kiln.Config{
		Store: st, Workers: workers, ID: childID, DisableMaintenance: true,
		LeaseDuration: time.Second, FetchPollInterval: 10 * time.Millisecond,
	})
	if err == nil {
		err = c.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	select {} // until SIGKILL
}

// TestKilledProcessJobIsRescued runs a job in a real child process, kills
// the process with SIGKILL mid-job, and checks that another process rescues
// the job once its lease expires and completes it.
func TestKilledProcessJobIsRescued(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kiln.db")
	st := openStore(t, path)
	enqueuer, _ := kiln.NewClient(&kiln.Config{Store: st})
	job := clienttest.Enqueue(t, enqueuer, testArgs{N: 7}, nil)

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"="+path)
	var stderr strings.Builder
	child.Stderr = &stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	t.Cleanup(func() {
		child.Process.Kill()
		<-exited
	})

	running := clienttest.WaitState(t, enqueuer, job.ID, kiln.JobStateRunning)
	if running.LeasedBy != childID {
		t.Fatalf("job leased by %q, want the child", running.LeasedBy)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child exit: %v (stderr %s)", err, stderr.String())
	}
	exited <- nil // for the cleanup

	// A live process with a worker rescues and completes the job.
	done := make(chan int, 1)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, j *kiln.Job[testArgs]) error {
		done <- j.Args.N
		return nil
	}))
	cfg := fastConfig(st, workers, nil)
	cfg.RetryPolicy = nil
	c := startClient(t, cfg)
	// The job comes back once its lease (1 s here) expires and a rescue
	// runs; WaitState's deadline (testutil.Timeout) bounds the wait. How
	// soon is measured by test/cluster, not by a wall-clock bound here,
	// which failed at load 50 (15.25 s against 15).
	row := clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted)
	if n := <-done; n != 7 {
		t.Fatalf("rescued job ran with N=%d", n)
	}
	attempts, _ := c.JobAttempts(context.Background(), job.ID)
	if len(attempts) != 2 || attempts[0].Outcome != kilntype.AttemptInterrupted || attempts[0].Server != childID ||
		!strings.Contains(attempts[0].Error, "lease") || attempts[1].Outcome != kilntype.AttemptSucceeded || row.Attempt != 2 {
		t.Fatalf("attempts after rescue = %+v (row attempt %d)", attempts, row.Attempt)
	}
}

// TestNonLeaderRescues checks that a process rescues expired leases
// whether or not it leads maintenance: another process (a "ghost" that
// died) holds the leader's term for an hour, and a job leased by a dead
// process must still be taken back and run as soon as its lease ends.
func TestNonLeaderRescues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t, "")
	clock := newClock()
	elected, err := st.LeaderAttemptElect(ctx, &store.LeaderElectParams{
		Name: "maintenance", LeaderID: "ghost-leader", TTL: time.Hour, Now: clock.Now(),
	})
	if err != nil || !elected {
		t.Fatalf("elect the ghost leader: %v, %v", elected, err)
	}
	enqueuer, _ := kiln.NewClient(&kiln.Config{Store: st, Clock: clock})
	job := clienttest.Enqueue(t, enqueuer, testArgs{N: 3}, nil)
	claimed, err := st.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: 1, AnyKind: true, LeasedBy: "dead-process",
		LeaseExpiresAt: clock.Now().Add(time.Second), Now: clock.Now()})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim as the dead process: %v, %v", claimed, err)
	}

	done := make(chan int, 1)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, j *kiln.Job[testArgs]) error {
		done <- j.Args.N
		return nil
	}))
	cfg := fastConfig(st, workers, clock)
	cfg.RetryPolicy = nil
	c := startClient(t, cfg)
	clock.Advance(2 * time.Second) // the dead process's lease has ended
	row := clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted)
	if n := <-done; n != 3 || row.Attempt != 2 {
		t.Fatalf("rescued job ran with N=%d, attempt %d", n, row.Attempt)
	}
	attempts, err := c.JobAttempts(ctx, job.ID)
	if err != nil || len(attempts) != 2 || attempts[0].Outcome != kilntype.AttemptInterrupted ||
		attempts[0].Server != "dead-process" {
		t.Fatalf("attempts after rescue = %+v, %v", attempts, err)
	}
	// The ghost still leads: the rescue did not wait for an election.
	if elected, err := st.LeaderAttemptElect(ctx, &store.LeaderElectParams{
		Name: "maintenance", LeaderID: c.ID(), TTL: time.Hour, Now: clock.Now(),
	}); err != nil || elected {
		t.Fatalf("the client could be elected (%v, %v): the ghost's term should still run", elected, err)
	}
}
