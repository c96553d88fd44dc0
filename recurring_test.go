package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// recurringConfig is fastConfig with a recurring scheduler that looks at
// the (fake) clock every 10 ms, and a leader term that cannot lapse.
// (fastConfig's 300 ms term is renewed under a 100 ms timeout: under load
// the renewal fails, the leader is deposed, and its scheduler's pass is
// cancelled, again and again; a pass that takes longer than the leader
// lasts never completes, and a client deposed without resigning leaves a
// term that the frozen clock never ends.)
func recurringConfig(st *sqlite.Store, workers *kiln.Workers, clock kiln.Clock, defs ...kiln.RecurringJob) *kiln.Config {
	cfg := fastConfig(st, workers, clock)
	cfg.LeaderTTL = time.Hour
	cfg.RecurringPollInterval = 10 * time.Millisecond
	cfg.Recurring = defs
	return cfg
}

func okWorkers() *kiln.Workers {
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	return workers
}

// recurringJobs lists the jobs of a recurring entry, oldest first.
func recurringJobs(t *testing.T, c *kiln.Client, id string) []*kilntype.JobRow {
	t.Helper()
	page, err := c.JobList(context.Background(), &kiln.JobListParams{OrderAsc: true, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var jobs []*kilntype.JobRow
	for _, j := range page.Jobs {
		if strings.Contains(string(j.Metadata), `"kiln.recurring_id":"`+id+`"`) {
			jobs = append(jobs, j)
		}
	}
	return jobs
}

// waitJobs polls until the entry has n jobs; it fails at once if it has
// more.
func waitJobs(t *testing.T, c *kiln.Client, id string, n int) []*kilntype.JobRow {
	t.Helper()
	var jobs []*kilntype.JobRow
	testutil.EventuallyNil(t, fmt.Sprintf("recurring %q to have %d jobs", id, n), func() error {
		if jobs = recurringJobs(t, c, id); len(jobs) > n {
			t.Fatalf("recurring %q has %d jobs, want %d", id, len(jobs), n)
		} else if len(jobs) < n {
			return fmt.Errorf("it has %d", len(jobs))
		}
		return nil
	})
	return jobs
}

// waitNextRun polls until the entry's NextRunAt is want.
func waitNextRun(t *testing.T, c *kiln.Client, id string, want time.Time) {
	t.Helper()
	testutil.EventuallyNil(t, fmt.Sprintf("recurring %q's next run to be %s", id, want), func() error {
		row, err := c.RecurringGet(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !row.NextRunAt.Equal(want) {
			return fmt.Errorf("next run %s", row.NextRunAt)
		}
		return nil
	})
}

func TestRecurringFiresOncePerOccurrence(t *testing.T) {
	t.Parallel()
	clock := newClock()
	def := kiln.RecurringJob{ID: "every-minute", Schedule: "* * * * *", Args: testArgs{N: 3}}
	c := startClient(t, recurringConfig(openStore(t, ""), okWorkers(), clock, def))
	row, err := c.RecurringGet(context.Background(), "every-minute")
	if err != nil {
		t.Fatal(err)
	}
	first := testBase.Truncate(time.Minute).Add(time.Minute)
	if !row.NextRunAt.Equal(first) || row.Overlap != kiln.OverlapPolicy("skip") || row.Misfire != kiln.MisfirePolicy("run_once") {
		t.Fatalf("stored entry = %+v", row)
	}
	clock.Set(first)
	jobs := waitJobs(t, c, "every-minute", 1)
	if !strings.Contains(string(jobs[0].Metadata), `"kiln.occurrence_at":"`+first.Format(time.RFC3339)) || string(jobs[0].Args) != `{"n":3}` {
		t.Fatalf("job = %+v metadata %s", jobs[0], jobs[0].Metadata)
	}
	waitNextRun(t, c, "every-minute", first.Add(time.Minute))
	clienttest.WaitState(t, c, jobs[0].ID, kiln.JobStateCompleted)
	// The scheduler polls many times at the same instant: still one job.
	clock.Set(first.Add(time.Minute))
	waitJobs(t, c, "every-minute", 2)
	waitNextRun(t, c, "every-minute", first.Add(2*time.Minute))
	if row, _ := c.RecurringGet(context.Background(), "every-minute"); row.LastRunAt == nil || !row.LastRunAt.Equal(first.Add(time.Minute)) {
		t.Fatalf("last run = %v", row.LastRunAt)
	}
}

func TestRecurringAddOrUpdateOnRestart(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	clock := newClock()
	ctx := context.Background()
	start := func(defs ...kiln.RecurringJob) *kiln.Client {
		cfg := recurringConfig(st, okWorkers(), clock, defs...)
		cfg.PruneRecurring = true
		c, err := kiln.NewClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := start(
		kiln.RecurringJob{ID: "report", Schedule: "0 9 * * *", Args: testArgs{N: 1}},
		kiln.RecurringJob{ID: "old", Schedule: "@hourly", Args: testArgs{}},
	)
	if _, err := c.RecurringPause(ctx, "report"); err != nil {
		t.Fatal(err)
	}
	before, _ := c.RecurringGet(ctx, "report")
	c.Stop(ctx)

	// Same schedule, other args: updated, still paused, next run kept.
	clock.Advance(time.Hour)
	c = start(kiln.RecurringJob{ID: "report", Schedule: "0 9 * * *", Args: testArgs{N: 2}})
	after, _ := c.RecurringGet(ctx, "report")
	if string(after.Args) != `{"n":2}` || !after.Paused || !after.NextRunAt.Equal(before.NextRunAt) || !after.CreatedAt.Equal(before.CreatedAt) {
		t.Fatalf("after restart: %+v (before %+v)", after, before)
	}
	if _, err := c.RecurringGet(ctx, "old"); !errors.Is(err, kiln.ErrNotFound) {
		t.Fatalf("entry no longer defined was not pruned: %v", err)
	}
	c.Stop(ctx)

	// A new schedule: the next run follows it.
	c = start(kiln.RecurringJob{ID: "report", Schedule: "0 18 * * *", TimeZone: "Europe/Berlin", Args: testArgs{N: 2}})
	defer c.Stop(ctx)
	changed, _ := c.RecurringGet(ctx, "report")
	berlin, _ := time.LoadLocation("Europe/Berlin")
	now := clock.Now().In(berlin)
	want := time.Date(now.Year(), now.Month(), now.Day(), 18, 0, 0, 0, berlin).UTC()
	if !changed.NextRunAt.Equal(want) || changed.TimeZone != "Europe/Berlin" {
		t.Fatalf("next run %s in %q, want %s", changed.NextRunAt, changed.TimeZone, want)
	}
}

func TestRecurringPauseResumeTriggerRemove(t *testing.T) {
	t.Parallel()
	clock := newClock()
	c := startClient(t, recurringConfig(openStore(t, ""), okWorkers(), clock))
	ctx := context.Background()
	if _, err := c.RecurringAddOrUpdate(ctx, kiln.RecurringJob{ID: "tick", Schedule: "@every 1m", Args: testArgs{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RecurringPause(ctx, "tick"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(5 * time.Minute)
	// Paused: a manual trigger still runs, the schedule enqueues nothing.
	job, err := c.RecurringTrigger(ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted)
	if n := len(recurringJobs(t, c, "tick")); n != 1 {
		t.Fatalf("%d jobs while paused, want the triggered one", n)
	}
	row, err := c.RecurringResume(ctx, "tick")
	if err != nil {
		t.Fatal(err)
	}
	// Resumed from the next occurrence: the paused span is not caught up.
	if want := clock.Now().Truncate(time.Minute).Add(time.Minute); !row.NextRunAt.Equal(want) {
		t.Fatalf("next run after resume %s, want %s", row.NextRunAt, want)
	}
	clock.Set(row.NextRunAt)
	waitJobs(t, c, "tick", 2)
	if _, err := c.RecurringRemove(ctx, "tick"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RecurringGet(ctx, "tick"); !errors.Is(err, kiln.ErrNotFound) {
		t.Fatalf("removed entry: %v", err)
	}
	if n := len(recurringJobs(t, c, "tick")); n != 2 {
		t.Fatalf("removing the entry removed its jobs: %d left", n)
	}
	for _, op := range []func(context.Context, string) (*kilntype.RecurringRow, error){c.RecurringPause, c.RecurringResume, c.RecurringRemove} {
		if _, err := op(ctx, "tick"); !errors.Is(err, kiln.ErrNotFound) {
			t.Errorf("on a removed entry: %v", err)
		}
	}
}

func TestRecurringOverlapSkip(t *testing.T) {
	t.Parallel()
	clock := newClock()
	w := newBlockingWorker()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	def := kiln.RecurringJob{ID: "slow", Schedule: "@every 1m", Args: testArgs{}}
	c := startClient(t, recurringConfig(openStore(t, ""), workers, clock, def))
	first := testBase.Truncate(time.Minute).Add(time.Minute)
	clock.Set(first)
	<-w.started // the first run is running
	// The clock moves a minute while the first run runs: past a 20 s lease
	// the rescuer took the run back (it ran again as attempt 2, and the
	// skip was judged against a retryable job); fastConfig's 10-minute
	// lease keeps it running.
	clock.Set(first.Add(time.Minute))
	waitNextRun(t, c, "slow", first.Add(2*time.Minute))
	if n := len(recurringJobs(t, c, "slow")); n != 1 {
		t.Fatalf("%d jobs: the occurrence during the first run was not skipped", n)
	}
	close(w.release)
	clienttest.WaitState(t, c, recurringJobs(t, c, "slow")[0].ID, kiln.JobStateCompleted)
	clock.Set(first.Add(2 * time.Minute))
	waitJobs(t, c, "slow", 2)
}

// TestRecurringCatchUp defines entries while no scheduler runs and starts
// one later, one entry for each misfire and overlap policy: after 4½ hours
// (5 occurrences missed) the misfire policy decides how many jobs run;
// after 35 s (4 occurrences late but within MisfireThreshold) all of them
// run. Under the skip and queue_one overlap policies they run one at a
// time, each waiting for the one before it. (internal/recurring's
// TestCatchUp covers the same table with earlier runs unfinished.)
func TestRecurringCatchUp(t *testing.T) {
	t.Parallel()
	for _, sc := range []struct {
		name     string
		schedule string
		late     time.Duration // after the first occurrence
		next     time.Duration // the entries' next run after the pass, from the first occurrence
		want     map[kiln.MisfirePolicy]int
	}{
		{"Restart", "@hourly", 4*time.Hour + 30*time.Minute, 5 * time.Hour,
			map[kiln.MisfirePolicy]int{"skip": 0, "run_once": 1, "run_all": 5}},
		{"Failover", "@every 10s", 35 * time.Second, 40 * time.Second,
			map[kiln.MisfirePolicy]int{"skip": 4, "run_once": 4, "run_all": 4}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t, "")
			clock := newClock()
			ctx := context.Background()
			definer, _ := kiln.NewClient(&kiln.Config{Store: st, Clock: clock})
			type cell struct {
				misfire kiln.MisfirePolicy
				overlap kiln.OverlapPolicy
			}
			var (
				cells []cell
				first time.Time
			)
			for _, misfire := range []kiln.MisfirePolicy{"skip", "run_once", "run_all"} {
				for _, overlap := range []kiln.OverlapPolicy{"skip", "allow", "queue_one"} {
					c := cell{misfire, overlap}
					cells = append(cells, c)
					def := kiln.RecurringJob{ID: fmt.Sprintf("%s-%s", misfire, overlap), Schedule: sc.schedule,
						Args: testArgs{}, Misfire: misfire, Overlap: overlap}
					row, err := definer.RecurringAddOrUpdate(ctx, def)
					if err != nil {
						t.Fatal(err)
					}
					first = row.NextRunAt
				}
			}
			clock.Set(first.Add(sc.late))
			c := startClient(t, recurringConfig(st, okWorkers(), clock))
			for _, cell := range cells {
				id := fmt.Sprintf("%s-%s", cell.misfire, cell.overlap)
				waitNextRun(t, c, id, first.Add(sc.next))
				jobs := recurringJobs(t, c, id)
				if len(jobs) != sc.want[cell.misfire] {
					t.Errorf("%s: %d jobs, want %d", id, len(jobs), sc.want[cell.misfire])
					continue
				}
				for i, job := range jobs {
					var want []int64
					if i > 0 && cell.overlap != "allow" {
						want = []int64{jobs[i-1].ID}
					}
					if got := kiln.ParentIDs(job); !slices.Equal(got, want) {
						t.Errorf("%s: job %d of %d waits for %v, want %v", id, i+1, len(jobs), got, want)
					}
				}
				for _, job := range jobs {
					clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted)
				}
			}
		})
	}
}

func TestRecurringBadDefinitions(t *testing.T) {
	t.Parallel()
	c, err := kiln.NewClient(&kiln.Config{Store: openStore(t, ""), Workers: okWorkers()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		def  kiln.RecurringJob
		want string
	}{
		{kiln.RecurringJob{ID: "a", Schedule: "61 * * * *", Args: testArgs{}}, "minute field"},
		{kiln.RecurringJob{ID: "a", Schedule: "* * * *", Args: testArgs{}}, "fields"},
		{kiln.RecurringJob{ID: "a", Schedule: "@daily", TimeZone: "Mars/Olympus", Args: testArgs{}}, "Mars/Olympus"},
		{kiln.RecurringJob{ID: "a", Schedule: "@every 500ms", Args: testArgs{}}, "1s"},
		{kiln.RecurringJob{ID: "a", Schedule: "@daily", Args: otherArgs{}}, "unknown job kind"},
		{kiln.RecurringJob{ID: "a", Schedule: "@daily", Args: testArgs{}, Opts: &kiln.EnqueueOpts{RunIn: time.Hour}}, "not allowed"},
		{kiln.RecurringJob{ID: "a", Schedule: "@daily", Args: testArgs{}, Overlap: "sometimes"}, "overlap"},
		{kiln.RecurringJob{ID: "", Schedule: "@daily", Args: testArgs{}}, "ID"},
	} {
		_, err := c.RecurringAddOrUpdate(ctx, tc.def)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", tc.def, err, tc.want)
		}
	}
	if rows, _ := c.RecurringList(ctx, "", 0); len(rows) != 0 {
		t.Fatalf("bad definitions were stored: %d", len(rows))
	}
}

func TestRecurringKindWithoutWorkerIsKeptWithAnError(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	clock := newClock()
	definer, _ := kiln.NewClient(&kiln.Config{Store: st, Clock: clock}) // enqueue-only: any kind
	row, err := definer.RecurringAddOrUpdate(context.Background(), kiln.RecurringJob{ID: "foreign", Schedule: "@every 1m", Args: otherArgs{}})
	if err != nil {
		t.Fatal(err)
	}
	c := startClient(t, recurringConfig(st, okWorkers(), clock))
	clock.Set(row.NextRunAt)
	jobs := waitJobs(t, c, "foreign", 1)
	if jobs[0].State != kiln.JobStateAvailable {
		t.Fatalf("job of a kind without worker is %s", jobs[0].State)
	}
	// The error is written with the job, in one transaction: no need to
	// wait for it. (Waiting for it failed under load: a leader deposed
	// between the enqueue and a later write of the error never wrote it,
	// the entry being no longer due; see the scheduler's
	// TestEntryErrorIsWrittenWithItsEnqueue.)
	row, err = c.RecurringGet(context.Background(), "foreign")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(row.LastError, `no worker for kind "other"`) {
		t.Fatalf("entry error = %q", row.LastError)
	}
}

// TestRecurringOnTimeWithTheRealClock checks that the scheduler wakes at an
// occurrence's time on its own: with a poll interval of 5 minutes, the
// occurrence is enqueued well within them. (How soon depends on the
// machine's load, leader election included; a bound near the poll interval
// would only measure it.)
func TestRecurringOnTimeWithTheRealClock(t *testing.T) {
	t.Parallel()
	cfg := recurringConfig(openStore(t, ""), okWorkers(), nil,
		kiln.RecurringJob{ID: "second", Schedule: "@every 1s", Args: testArgs{}})
	cfg.RecurringPollInterval = 5 * time.Minute // the scheduler must wake on its own
	c := startClient(t, cfg)
	var jobs []*kilntype.JobRow
	testutil.Eventually(t, "an occurrence to be enqueued", func() bool {
		jobs = recurringJobs(t, c, "second")
		return len(jobs) > 0
	})
	if id, ok := jobs[0].MetadataValue(kiln.MetadataRecurringID); !ok || id != "second" {
		t.Fatalf("%s = %q, %v; want \"second\"", kiln.MetadataRecurringID, id, ok)
	}
	at, _ := jobs[0].MetadataValue(kiln.MetadataOccurrenceAt)
	due, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		t.Fatal(err)
	}
	late := jobs[0].CreatedAt.Sub(due)
	if late < 0 || late > time.Minute {
		t.Fatalf("enqueued %s after its occurrence; want well before the 5 min poll", late)
	}
	t.Logf("enqueued %s after its occurrence", late)
}

// TestRecurringAcrossSpringForward runs a daily 02:30 New York entry over the
// night clocks jump from 02:00 to 03:00: the occurrence runs once, at the
// jump (07:00 UTC), and the next day at 02:30 EDT again.
func TestRecurringAcrossSpringForward(t *testing.T) {
	t.Parallel()
	clock := kilntest.NewClock(time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC))
	def := kiln.RecurringJob{ID: "nightly", Schedule: "30 2 * * *", TimeZone: "America/New_York", Args: testArgs{}}
	c := startClient(t, recurringConfig(openStore(t, ""), okWorkers(), clock, def))
	jump := time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC) // 03:00 EDT
	waitNextRun(t, c, "nightly", jump)
	clock.Set(jump)
	jobs := waitJobs(t, c, "nightly", 1)
	if !strings.Contains(string(jobs[0].Metadata), `"kiln.occurrence_at":"2026-03-08T07:00:00Z"`) {
		t.Fatalf("occurrence metadata %s", jobs[0].Metadata)
	}
	waitNextRun(t, c, "nightly", time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC)) // 02:30 EDT
}

// stepWorker's jobs signal started and each returns when it receives one
// release (or its context is done); it keeps the peak of jobs running at
// once.
type stepWorker struct {
	kiln.WorkerDefaults[testArgs]
	started chan int64
	release chan struct{}
	running atomic.Int32
	peak    atomic.Int32
}

func newStepWorker() *stepWorker {
	return &stepWorker{started: make(chan int64, 100), release: make(chan struct{})}
}

func (w *stepWorker) Work(ctx context.Context, job *kiln.Job[testArgs]) error {
	n := w.running.Add(1)
	defer w.running.Add(-1)
	for p := w.peak.Load(); n > p && !w.peak.CompareAndSwap(p, n); p = w.peak.Load() {
	}
	w.started <- job.ID
	select {
	case <-w.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// nextStarted returns the next job w starts.
func (w *stepWorker) nextStarted(t *testing.T) int64 {
	t.Helper()
	return testutil.Receive(t, w.started, "a job to start", nil)
}

// TestRecurringQueueOneRunsOneAtATime checks queue_one: an occurrence that
// comes while a run runs waits for it (pending), a third is skipped, and
// the waiting run starts as soon as the first ends, not at the resolver's
// next pass (an hour away here).
func TestRecurringQueueOneRunsOneAtATime(t *testing.T) {
	t.Parallel()
	clock := newClock()
	w := newStepWorker()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	def := kiln.RecurringJob{ID: "q", Schedule: "@every 1m", Args: testArgs{}, Overlap: "queue_one"}
	cfg := recurringConfig(openStore(t, ""), workers, clock, def)
	cfg.ScheduleInterval = time.Hour // the resolver runs when elected, then not again
	cfg.LeaseDuration = time.Hour    // the clock moves 3 minutes while the first run runs
	c := startClient(t, cfg)
	first := testBase.Truncate(time.Minute).Add(time.Minute)
	clock.Set(first)
	firstID := w.nextStarted(t)

	clock.Set(first.Add(time.Minute))
	waitNextRun(t, c, "q", first.Add(2*time.Minute))
	jobs := recurringJobs(t, c, "q")
	if len(jobs) != 2 || jobs[1].State != kiln.JobStatePending || !slices.Equal(kiln.ParentIDs(jobs[1]), []int64{firstID}) {
		t.Fatalf("after the second occurrence: %d jobs; the second is %s waiting for %v, want pending for %d",
			len(jobs), jobs[len(jobs)-1].State, kiln.ParentIDs(jobs[len(jobs)-1]), firstID)
	}
	second := jobs[1].ID

	// One waits: the third occurrence is skipped.
	clock.Set(first.Add(2 * time.Minute))
	waitNextRun(t, c, "q", first.Add(3*time.Minute))
	if n := len(recurringJobs(t, c, "q")); n != 2 {
		t.Fatalf("%d jobs after the third occurrence, want 2", n)
	}

	w.release <- struct{}{} // the first run ends
	if id := w.nextStarted(t); id != second {
		t.Fatalf("job %d started, want the waiting one, %d", id, second)
	}
	w.release <- struct{}{}
	clienttest.WaitState(t, c, second, kiln.JobStateCompleted)
	if peak := w.peak.Load(); peak != 1 {
		t.Fatalf("%d runs at once, want 1", peak)
	}
}

// TestRecurringStopsBeforeDraining checks that a graceful stop ends the
// recurring scheduler (and hands leadership over) before it waits for the
// running jobs: no occurrence is enqueued while they drain.
func TestRecurringStopsBeforeDraining(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	clock := newClock()
	w := newStepWorker()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, w)
	def := kiln.RecurringJob{ID: "tick", Schedule: "@every 1m", Args: testArgs{}, Overlap: "allow"}
	cfg := recurringConfig(st, workers, clock, def)
	cfg.LeaseDuration = time.Hour
	c, err := kiln.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first := testBase.Truncate(time.Minute).Add(time.Minute)
	clock.Set(first)
	w.nextStarted(t)

	stopped := make(chan error, 1)
	go func() { stopped <- c.Stop(ctx) }()
	// While the job runs, the client resigns: another process is elected.
	waiting := true
	t.Cleanup(func() {
		if waiting { // the wait failed: let the job end, and Stop return
			w.release <- struct{}{}
			<-stopped
		}
	})
	testutil.Eventually(t, "the stopping client to give up leadership while its job drains", func() bool {
		elected, err := st.LeaderAttemptElect(ctx, &store.LeaderElectParams{
			Name: "maintenance", LeaderID: "other-process", TTL: time.Hour, Now: clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		return elected
	})
	waiting = false
	// Occurrences come while the job drains: this client enqueues none.
	clock.Set(first.Add(5 * time.Minute))
	w.release <- struct{}{}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if n := len(recurringJobs(t, c, "tick")); n != 1 {
		t.Fatalf("%d jobs, want the one that ran", n)
	}
}

// TestRecurringPartition: an entry's partition key (the args' Partitioner,
// or Opts.Partition, which beats it) is stored with the entry and carried
// by the job of each occurrence, scheduled or triggered.
func TestRecurringPartition(t *testing.T) {
	t.Parallel()
	clock := newClock()
	var done atomic.Int64
	workers := okWorkers()
	kiln.AddWorker(workers, keyRatedWorker{done: &done})
	c := startClient(t, recurringConfig(openStore(t, ""), workers, clock))
	ctx := t.Context()
	for _, def := range []kiln.RecurringJob{
		{ID: "by-args", Schedule: "@every 1m", Args: keyRatedArgs{Tenant: "acme"}},
		{ID: "by-opts", Schedule: "@every 1m", Args: keyRatedArgs{Tenant: "acme"}, Opts: &kiln.EnqueueOpts{Partition: "globex"}},
		{ID: "none", Schedule: "@every 1m", Args: testArgs{}},
	} {
		if _, err := c.RecurringAddOrUpdate(ctx, def); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"by-args": "acme", "by-opts": "globex", "none": ""}
	for id, key := range want {
		row, err := c.RecurringGet(ctx, id)
		if err != nil || row.Partition != key {
			t.Fatalf("RecurringGet(%s) = %+v, %v; want partition %q", id, row, err, key)
		}
	}
	clock.Advance(time.Minute)
	for id, key := range want {
		if jobs := waitJobs(t, c, id, 1); jobs[0].Partition != key {
			t.Fatalf("the occurrence of %s has partition %q; want %q", id, jobs[0].Partition, key)
		}
		job, err := c.RecurringTrigger(ctx, id)
		if err != nil || job.Partition != key {
			t.Fatalf("RecurringTrigger(%s) = %+v, %v; want partition %q", id, job, err, key)
		}
	}
	var ve *kiln.ValidationError
	_, err := c.RecurringAddOrUpdate(ctx, kiln.RecurringJob{ID: "long", Schedule: "@daily", Args: testArgs{},
		Opts: &kiln.EnqueueOpts{Partition: strings.Repeat("k", kiln.MaxPartitionKeyBytes+1)}})
	if !errors.As(err, &ve) || ve.Field != "partition" {
		t.Fatalf("an entry with a key of %d bytes: %v; want a ValidationError of partition", kiln.MaxPartitionKeyBytes+1, err)
	}
}
