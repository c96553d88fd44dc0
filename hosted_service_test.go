package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// serviceStatus returns the status of the named hosted service.
func serviceStatus(t *testing.T, c *kiln.Client, name string) kiln.HostedServiceStatus {
	t.Helper()
	for _, st := range c.HostedServices() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no hosted service %q", name)
	return kiln.HostedServiceStatus{}
}

// waitService polls until cond holds for the named service.
func waitService(t *testing.T, c *kiln.Client, name string, cond func(kiln.HostedServiceStatus) bool) kiln.HostedServiceStatus {
	t.Helper()
	var st kiln.HostedServiceStatus
	testutil.EventuallyNil(t, fmt.Sprintf("a status of hosted service %q", name), func() error {
		if st = serviceStatus(t, c, name); !cond(st) {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	return st
}

func TestHostedServicePanicIsRestartedWithBackoff(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var starts []time.Time
	third := make(chan struct{}) // closed by the third run
	svc := kiln.HostedService{
		Name: "flaky", MinBackoff: 20 * time.Millisecond, MaxBackoff: time.Second,
		Run: func(ctx context.Context) error {
			mu.Lock()
			starts = append(starts, time.Now())
			n := len(starts)
			mu.Unlock()
			if n <= 2 {
				panic(fmt.Sprintf("boom %d", n))
			}
			if n == 3 {
				close(third)
			}
			<-ctx.Done()
			return nil
		},
	}
	cfg := fastConfig(openStore(t, ""), nil, nil)
	cfg.HostedServices = []kiln.HostedService{svc}
	c := startClient(t, cfg) // no workers: a client may run only services
	st := waitService(t, c, "flaky", func(s kiln.HostedServiceStatus) bool {
		return s.State == kiln.HostedServiceRunning && s.Restarts == 2
	})
	if !strings.Contains(st.LastError, "panicked: boom 2") || !strings.Contains(st.LastError, "hosted_service_test.go") || st.Holder != c.ID() {
		t.Fatalf("status after two panics: %+v", st)
	}
	// The status says running just before Run is called: wait for the run.
	testutil.Receive(t, third, "the service's third run", nil)
	mu.Lock()
	defer mu.Unlock()
	// Backoff: 20 ms before the first restart, doubled (40 ms) before the second.
	if gap := starts[1].Sub(starts[0]); gap < 20*time.Millisecond {
		t.Errorf("first restart after %s, want at least 20ms", gap)
	}
	if gap := starts[2].Sub(starts[1]); gap < 40*time.Millisecond {
		t.Errorf("second restart after %s, want at least 40ms (doubled)", gap)
	}
}

func TestHostedServiceRestartPolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy       kiln.RestartPolicy
		err          error
		wantRestarts bool
	}{
		{kiln.RestartNever, errors.New("failed"), false},
		{kiln.RestartOnFailure, nil, false},
		{kiln.RestartOnFailure, errors.New("failed"), true},
		{kiln.RestartAlways, nil, true},
	} {
		t.Run(fmt.Sprintf("%s/%v", tc.policy, tc.err), func(t *testing.T) {
			t.Parallel()
			runs := make(chan struct{}, 100)
			cfg := fastConfig(openStore(t, ""), nil, nil)
			cfg.HostedServices = []kiln.HostedService{{
				Name: "once", Restart: tc.policy, MinBackoff: time.Millisecond,
				Run: func(ctx context.Context) error { runs <- struct{}{}; return tc.err },
			}}
			c := startClient(t, cfg)
			if tc.wantRestarts {
				waitService(t, c, "once", func(s kiln.HostedServiceStatus) bool { return s.Restarts >= 2 })
				return
			}
			st := waitService(t, c, "once", func(s kiln.HostedServiceStatus) bool { return s.State == kiln.HostedServiceStopped })
			if st.Restarts != 0 || len(runs) != 1 {
				t.Fatalf("%d runs, status %+v; want one run", len(runs), st)
			}
		})
	}
}

func TestHostedServiceStopsAtShutdown(t *testing.T) {
	t.Parallel()
	stopped := make(chan struct{})
	cfg := fastConfig(openStore(t, ""), okWorkers(), nil)
	cfg.HostedServices = []kiln.HostedService{{Name: "loop", Run: func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return ctx.Err()
	}}}
	c, err := kiln.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitService(t, c, "loop", func(s kiln.HostedServiceStatus) bool { return s.State == kiln.HostedServiceRunning })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	<-stopped
	if st := serviceStatus(t, c, "loop"); st.State != kiln.HostedServiceStopped || st.LastError != "" {
		t.Fatalf("after stop: %+v", st)
	}
}

func TestHostedServiceIgnoringItsContextIsReported(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	exited := make(chan struct{})
	cfg := fastConfig(openStore(t, ""), nil, nil)
	cfg.HostedServices = []kiln.HostedService{{Name: "stubborn", Run: func(ctx context.Context) error {
		defer close(exited)
		<-release // ignores ctx
		return nil
	}}}
	c, _ := kiln.NewClient(cfg)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitService(t, c, "stubborn", func(s kiln.HostedServiceStatus) bool { return s.State == kiln.HostedServiceRunning })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := c.Stop(ctx)
	if !errors.Is(err, kiln.ErrStopTimeout) || !strings.Contains(err.Error(), "stubborn") {
		t.Fatalf("stop with a service that ignores its context: %v", err)
	}
	close(release)
	<-exited
}

// TestStopNamesOnlyTheStuckService stops a client running a service that
// honours its context and one that ignores it, under a short deadline: Stop
// returns by the deadline plus the services' grace (1 s), names only the
// stuck service, and the statuses say which one still runs. (Stop once
// took the deadline plus 5 s and named both, and both stayed "running".)
func TestStopNamesOnlyTheStuckService(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	exited := make(chan struct{})
	cfg := fastConfig(openStore(t, ""), nil, nil)
	cfg.HostedServices = []kiln.HostedService{
		{Name: "good", Run: func(ctx context.Context) error {
			<-ctx.Done()
			return nil
		}},
		{Name: "stubborn", Run: func(ctx context.Context) error {
			defer close(exited)
			<-release // ignores ctx
			return nil
		}},
	}
	c, err := kiln.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"good", "stubborn"} {
		waitService(t, c, name, func(s kiln.HostedServiceStatus) bool { return s.State == kiln.HostedServiceRunning })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	err = c.Stop(ctx)
	took := time.Since(began)
	if !errors.Is(err, kiln.ErrStopTimeout) || !strings.Contains(err.Error(), "[stubborn]") {
		t.Errorf("stop: %v; want ErrStopTimeout naming only stubborn", err)
	}
	// 100 ms, raised to the 1 s services get at least. Stop's contract
	// adds 5 s only when workers ignore cancellation, and none run here:
	// 6 s or more means Stop waited for something it must not (the
	// stubborn service, or a grace meant for jobs). Below that is the
	// slack a loaded machine needs (4.1 s was seen at load 30).
	if took >= time.Second+5*time.Second {
		t.Errorf("stop took %s, want about 1 s (the services' least grace), under 6 s", took)
	}
	if st := serviceStatus(t, c, "good"); st.State != kiln.HostedServiceStopped || st.Holder != "" {
		t.Errorf("good after stop: %+v, want stopped", st)
	}
	if st := serviceStatus(t, c, "stubborn"); st.State != kiln.HostedServiceRunning {
		t.Errorf("stubborn after stop: %+v, want running (its Run has not returned)", st)
	}
	close(release)
	<-exited
	waitService(t, c, "stubborn", func(s kiln.HostedServiceStatus) bool { return s.State == kiln.HostedServiceStopped })
}

func TestHostedServiceBadDefinitions(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	run := func(context.Context) error { return nil }
	for _, tc := range []struct {
		svcs []kiln.HostedService
		want string
	}{
		{[]kiln.HostedService{{Name: "", Run: run}}, "empty Name"},
		{[]kiln.HostedService{{Name: "a", Run: run}, {Name: "a", Run: run}}, "used twice"},
		{[]kiln.HostedService{{Name: "a"}}, "nil Run"},
		{[]kiln.HostedService{{Name: "a", Run: run, Restart: "sometimes"}}, "restart policy"},
		{[]kiln.HostedService{{Name: "a", Run: run, MinBackoff: time.Minute, MaxBackoff: time.Second}}, "backoff"},
	} {
		if _, err := kiln.NewClient(&kiln.Config{Store: st, HostedServices: tc.svcs}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", tc.svcs, err, tc.want)
		}
	}
}

// singletonEnv, when set to "DB|DIR|REFUSED", turns the test binary into a
// Kiln process whose singleton service marks DIR/<pid> while it runs, and
// that appends a byte to REFUSED/<pid> each time it is refused the
// singleton's lease.
const singletonEnv = "KILN_TEST_SINGLETON"

// refusalCounter is a SQLite store that counts, in the size of a file, the
// elections of the singleton service it lost.
type refusalCounter struct {
	*sqlite.Store
	file string
}

func (s *refusalCounter) LeaderAttemptElect(ctx context.Context, p *store.LeaderElectParams) (bool, error) {
	ok, err := s.Store.LeaderAttemptElect(ctx, p)
	if err == nil && !ok && p.Name == "service:singleton" {
		f, ferr := os.OpenFile(s.file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if ferr == nil {
			f.Write([]byte{1})
			f.Close()
		}
	}
	return ok, err
}

func runSingletonChild() int {
	args := strings.Split(os.Getenv(singletonEnv), "|")
	db, dir, refused := args[0], args[1], args[2]
	sqliteStore, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	st := &refusalCounter{Store: sqliteStore, file: filepath.Join(refused, strconv.Itoa(os.Getpid()))}
	marker := filepath.Join(dir, strconv.Itoa(os.Getpid()))
	c, err := kiln.NewClient(&kiln.Config{
		Store: st, LeaderTTL: 600 * time.Millisecond, DisableMaintenance: true,
		HostedServices: []kiln.HostedService{{Name: "singleton", Singleton: true, Run: func(ctx context.Context) error {
			if err := os.WriteFile(marker, nil, 0o644); err != nil {
				return err
			}
			<-ctx.Done()
			return os.Remove(marker)
		}}},
	})
	if err == nil {
		err = c.Start(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	select {} // until killed
}

// markers returns the PIDs whose singleton marker exists in dir.
func markers(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range entries {
		pids = append(pids, e.Name())
	}
	return pids
}

// refusals returns how many singleton elections each process (by PID) has
// lost, from the files in dir.
func refusals(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int64{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		n[e.Name()] = info.Size()
	}
	return n
}

// TestSingletonServiceRunsInOneProcessAndMoves starts three real processes
// on one database, checks that the singleton service runs in exactly one,
// kills that one with SIGKILL, and checks that the service moves to another
// within a few lease terms.
func TestSingletonServiceRunsInOneProcessAndMoves(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	db, dir, refused := filepath.Join(tmp, "kiln.db"), filepath.Join(tmp, "markers"), filepath.Join(tmp, "refused")
	for _, d := range []string{dir, refused} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	openStore(t, db) // migrate
	procs := map[string]*exec.Cmd{}
	for range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), singletonEnv+"="+db+"|"+dir+"|"+refused)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[strconv.Itoa(cmd.Process.Pid)] = cmd
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	// waitOne waits until exactly one process runs the service, then until
	// every other live process has been refused its lease twice, and checks
	// throughout that no second process runs it beside. (On a loaded
	// machine the holder may lose its lease by a late renewal and the
	// service stop, or move: a gap, never two at once. A move starts the
	// count again.)
	killed := map[string]bool{}
	waitOne := func() string {
		var holder string
		var since map[string]int64
		testutil.EventuallyNil(t, "the singleton to run in one process while the others are refused it twice", func() error {
			switch m := markers(t, dir); {
			case len(m) > 1:
				t.Fatalf("singleton runs in %v at once, want one process at most", m)
			case len(m) == 0:
				return errors.New("it runs nowhere")
			case m[0] != holder:
				holder, since = m[0], refusals(t, refused)
				return fmt.Errorf("it moved to %s", holder)
			}
			now := refusals(t, refused)
			for pid := range procs {
				if pid != holder && !killed[pid] && now[pid]-since[pid] < 2 {
					return fmt.Errorf("process %s was refused %d times while %s held it, want 2", pid, now[pid]-since[pid], holder)
				}
			}
			return nil
		})
		return holder
	}
	holder := waitOne()
	if procs[holder] == nil {
		t.Fatalf("marker %s is not one of the processes", holder)
	}
	if err := procs[holder].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	procs[holder].Wait()
	os.Remove(filepath.Join(dir, holder)) // a killed process cannot clean up
	killed[holder] = true
	killedAt := time.Now()
	next := waitOne()
	if next == holder {
		t.Fatal("the killed process still holds the service")
	}
	t.Logf("singleton moved from %s to %s in %s", holder, next, time.Since(killedAt).Round(time.Millisecond))
}

// claimCounter is a SQLite store that counts the claims made through it.
type claimCounter struct {
	*sqlite.Store
	claims atomic.Int64
}

func (s *claimCounter) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	s.claims.Add(1)
	return s.Store.JobClaim(ctx, p)
}

// TestClientWithoutWorkersNeverClaims runs a client with hosted services,
// explicit Queues and no Workers next to a due job: it runs the services,
// registers no queue, and never claims (it once claimed every job and gave
// it back, in a loop, because no kinds meant any kind).
func TestClientWithoutWorkersNeverClaims(t *testing.T) {
	t.Parallel()
	st := &claimCounter{Store: openStore(t, "")}
	ran := make(chan struct{})
	cfg := fastConfigFor(st, nil, nil)
	cfg.FetchPollInterval = time.Millisecond
	cfg.Queues = map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: 5}}
	cfg.HostedServices = []kiln.HostedService{{Name: "svc", Run: func(ctx context.Context) error {
		close(ran)
		<-ctx.Done()
		return nil
	}}}
	c := startClient(t, cfg)
	job := clienttest.Enqueue(t, c, testArgs{N: 1}, nil) // wakes the queue's producer, if any
	<-ran

	// The registry row (written at Start) lists the queues the client runs.
	var row *kiln.ServerRow
	testutil.Eventually(t, "the client to register", func() bool {
		rows, err := c.ServerList(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.ID == c.ID() {
				row = r
			}
		}
		return row != nil
	})
	if len(row.Queues) != 0 {
		t.Errorf("a client without workers registered queues %+v", row.Queues)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := st.claims.Load(); n != 0 {
		t.Errorf("a client without workers made %d claims", n)
	}
	got, err := c.JobGet(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	attempts, _ := c.JobAttempts(context.Background(), job.ID)
	if got.State != kiln.JobStateAvailable || got.Attempt != 0 || len(attempts) != 0 {
		t.Fatalf("job after the client ran: state %s, attempt %d, attempts %+v; want available and never tried", got.State, got.Attempt, attempts)
	}
}
