package maintenance

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// taskStore is the store of these tests: each method a task calls records
// its params and answers with the next count of its script (0 once the
// script is used up; as many rows for the methods that return rows), or
// with its error while one is set.
type taskStore struct {
	store.Store // the methods no task calls

	mu     sync.Mutex
	calls  []string
	params map[string][]any
	script map[string][]int
	fail   map[string]error
}

func newTaskStore() *taskStore {
	return &taskStore{params: map[string][]any{}, script: map[string][]int{}, fail: map[string]error{}}
}

// call records method's params and returns its next count or error.
func (s *taskStore) call(method string, params any) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, method)
	s.params[method] = append(s.params[method], params)
	if err := s.fail[method]; err != nil {
		return 0, err
	}
	n := 0
	if script := s.script[method]; len(script) > 0 {
		n, s.script[method] = script[0], script[1:]
	}
	return n, nil
}

func (s *taskStore) set(method string, err error, counts ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = err
	s.script[method] = counts
}

func (s *taskStore) callsSoFar() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *taskStore) paramsOf(method string) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.params[method])
}

func jobRows(n int) []*kilntype.JobRow {
	rows := make([]*kilntype.JobRow, n)
	for i := range rows {
		rows[i] = &kilntype.JobRow{ID: int64(i + 1), Kind: "k", State: kilntype.JobStateRetryable}
	}
	return rows
}

func (s *taskStore) JobScheduleDue(_ context.Context, p *store.JobScheduleDueParams) (int, error) {
	return s.call("JobScheduleDue", p)
}

func (s *taskStore) JobRescueExpired(_ context.Context, p *store.JobRescueExpiredParams) ([]*kilntype.JobRow, error) {
	n, err := s.call("JobRescueExpired", p)
	return jobRows(n), err
}

func (s *taskStore) JobResolvePending(_ context.Context, p *store.JobResolvePendingParams) ([]*kilntype.JobRow, error) {
	n, err := s.call("JobResolvePending", p)
	return jobRows(n), err
}

func (s *taskStore) ServerDeleteStale(_ context.Context, p *store.ServerDeleteStaleParams) ([]string, error) {
	n, err := s.call("ServerDeleteStale", p)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "gone"
	}
	return ids, err
}

func (s *taskStore) JobStatsFold(_ context.Context, p *store.JobStatsFoldParams) (int, error) {
	return s.call("JobStatsFold", p)
}

func (s *taskStore) ServiceDeleteStale(_ context.Context, p *store.ServiceDeleteStaleParams) (int, error) {
	return s.call("ServiceDeleteStale", p)
}

func (s *taskStore) RetentionList(context.Context) ([]*kilntype.RetentionRule, error) {
	_, err := s.call("RetentionList", nil)
	return nil, err
}

func (s *taskStore) JobDeleteFinished(_ context.Context, p *store.JobDeleteFinishedParams) (int, error) {
	return s.call("JobDeleteFinished", p)
}

func (s *taskStore) RecurringOccurrenceDeleteOld(_ context.Context, p *store.RecurringOccurrenceDeleteOldParams) (int, error) {
	return s.call("RecurringOccurrenceDeleteOld", p)
}

func (s *taskStore) BatchDeleteOld(_ context.Context, p *store.BatchDeleteOldParams) (int, error) {
	return s.call("BatchDeleteOld", p)
}

// JobVacuum reports a vacuum when its script's count is above 0.
func (s *taskStore) JobVacuum(_ context.Context, p *store.JobVacuumParams) (store.JobVacuumResult, error) {
	n, err := s.call("JobVacuum", p)
	return store.JobVacuumResult{Dead: int64(n), Vacuumed: n > 0}, err
}

func (s *taskStore) AuditDeleteOld(_ context.Context, p *store.AuditDeleteOldParams) (int, error) {
	return s.call("AuditDeleteOld", p)
}

// taskEnv is a Config on a taskStore, a manual clock and a recording
// logger, with what OnRescued and OnReleased were given.
type taskEnv struct {
	st    *taskStore
	clock *enginetest.Clock
	log   *enginetest.Log
	cfg   Config

	mu                sync.Mutex
	rescued, released int
}

func newTaskEnv() *taskEnv {
	e := &taskEnv{st: newTaskStore(), clock: enginetest.NewClock()}
	logger, log := enginetest.NewLogger()
	e.log = log
	e.cfg = Config{Store: e.st, Now: e.clock.Now, Logger: logger,
		ScheduleInterval: time.Second, RescueInterval: 5 * time.Second, CleanInterval: time.Minute,
		CompletedRetention: 24 * time.Hour, CancelledRetention: 7 * 24 * time.Hour, DiscardedRetention: 3 * 24 * time.Hour,
		ServerTTL: time.Minute,
		OnRescued: func(rows []*kilntype.JobRow) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.rescued += len(rows)
		},
		OnReleased: func(rows []*kilntype.JobRow) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.released += len(rows)
		},
	}
	return e
}

// task returns the task named name of s.
func task(t *testing.T, s *Services, name string) Task {
	t.Helper()
	for _, task := range s.tasks {
		if task.Name == name {
			return task
		}
	}
	t.Fatalf("no task %q", name)
	return Task{}
}

// TestTasksAndIntervals checks which tasks the leader and every process
// run, and at which intervals.
func TestTasksAndIntervals(t *testing.T) {
	t.Parallel()
	e := newTaskEnv()
	got := map[string]time.Duration{}
	for _, task := range New(e.cfg).tasks {
		got[task.Name] = task.Interval
	}
	want := map[string]time.Duration{"promoter": time.Second, "cleaner": time.Minute, "resolver": time.Second,
		"reaper": 15 * time.Second, "stats": StatsInterval, "vacuum": VacuumInterval}
	if len(got) != len(want) {
		t.Errorf("leader tasks %v, want %v", got, want)
	}
	for name, d := range want {
		if got[name] != d {
			t.Errorf("task %s every %v, want %v", name, got[name], d)
		}
	}
	rescuer := NewRescuer(e.cfg).tasks
	if len(rescuer) != 1 || rescuer[0].Name != "rescuer" || rescuer[0].Interval != 5*time.Second {
		t.Errorf("NewRescuer's tasks: %+v, want the rescuer every 5s", rescuer)
	}
}

// TestPassRepeatsFullBatches checks that a pass that touched a full batch
// is repeated at once, that one that touched fewer ends the pass, and that
// a failed pass is logged and ends it.
func TestPassRepeatsFullBatches(t *testing.T) {
	t.Parallel()
	e := newTaskEnv()
	s := New(e.cfg)
	e.st.set("JobScheduleDue", nil, batchSize, batchSize, 3, batchSize)
	s.pass(t.Context(), task(t, s, "promoter"))
	if n := len(e.st.paramsOf("JobScheduleDue")); n != 3 {
		t.Errorf("%d calls in a pass of two full batches and a last one, want 3", n)
	}
	p := e.st.paramsOf("JobScheduleDue")[0].(*store.JobScheduleDueParams)
	if !p.Now.Equal(e.clock.Now()) || p.Max != batchSize {
		t.Errorf("JobScheduleDue params %+v, want Now %v and Max %d", p, e.clock.Now(), batchSize)
	}

	e.st.set("JobScheduleDue", errors.New("database down"), batchSize)
	s.pass(t.Context(), task(t, s, "promoter"))
	if n := len(e.st.paramsOf("JobScheduleDue")); n != 4 {
		t.Errorf("%d calls after a failed pass, want 4 (one more)", n)
	}
	if recs := e.log.Records("maintenance pass failed"); len(recs) != 1 {
		t.Errorf("%d failures logged, want 1", len(recs))
	}

	// A pass that fails because the services stop logs nothing.
	stopping, stop := context.WithCancel(t.Context())
	s.pass(stopping, Task{Name: "stopping", Run: func(ctx context.Context) (int, error) {
		stop()
		return 0, context.Canceled
	}})
	if recs := e.log.Records("maintenance pass failed"); len(recs) != 1 {
		t.Errorf("%d failures logged after a pass cut by a stop, want still 1", len(recs))
	}
}

// TestRescuerAndResolverReport checks that the rescuer logs and reports
// the jobs it took back, and the resolver the continuations it released,
// and that their errors end the pass.
func TestRescuerAndResolverReport(t *testing.T) {
	t.Parallel()
	e := newTaskEnv()
	e.st.set("JobRescueExpired", nil, 2)
	e.st.set("JobResolvePending", nil, 3)
	rescue := task(t, NewRescuer(e.cfg), "rescuer")
	resolve := task(t, New(e.cfg), "resolver")
	if n, err := rescue.Run(t.Context()); n != 2 || err != nil {
		t.Errorf("rescuer: %d, %v; want 2 jobs", n, err)
	}
	if n, err := resolve.Run(t.Context()); n != 3 || err != nil {
		t.Errorf("resolver: %d, %v; want 3 jobs", n, err)
	}
	if n, err := rescue.Run(t.Context()); n != 0 || err != nil { // nothing to rescue: nothing reported
		t.Errorf("rescuer with nothing to do: %d, %v", n, err)
	}
	e.mu.Lock()
	if e.rescued != 2 || e.released != 3 {
		t.Errorf("OnRescued got %d jobs, OnReleased %d; want 2 and 3", e.rescued, e.released)
	}
	e.mu.Unlock()
	if recs := e.log.Records("rescued job whose lease expired"); len(recs) != 2 {
		t.Errorf("%d rescues logged, want 2", len(recs))
	}
	rp := e.st.paramsOf("JobRescueExpired")[0].(*store.JobRescueExpiredParams)
	pp := e.st.paramsOf("JobResolvePending")[0].(*store.JobResolvePendingParams)
	if !rp.Now.Equal(e.clock.Now()) || rp.Max != batchSize || !pp.Now.Equal(e.clock.Now()) || pp.Max != batchSize ||
		len(pp.Parents) != 0 {
		t.Errorf("params %+v and %+v, want Now %v, Max %d, no parents", rp, pp, e.clock.Now(), batchSize)
	}

	e.st.set("JobRescueExpired", errors.New("down"))
	e.st.set("JobResolvePending", errors.New("down"))
	if _, err := rescue.Run(t.Context()); err == nil {
		t.Error("rescuer: no error from a failed rescue")
	}
	if _, err := resolve.Run(t.Context()); err == nil {
		t.Error("resolver: no error from a failed resolve")
	}
}

// TestReaperAndStatsFolder checks the reaper's cut-off (ServerTTL before
// now) and its log of the servers it removed, and the stats folder's
// params (now, and the history's cut-off HistoryRetention before it).
func TestReaperAndStatsFolder(t *testing.T) {
	t.Parallel()
	e := newTaskEnv()
	s := New(e.cfg)
	reap := task(t, s, "reaper")
	e.st.set("ServerDeleteStale", nil, 2)
	if n, err := reap.Run(t.Context()); n != 2 || err != nil {
		t.Errorf("reaper: %d, %v; want 2 servers", n, err)
	}
	if n, err := reap.Run(t.Context()); n != 0 || err != nil {
		t.Errorf("reaper with nothing to do: %d, %v", n, err)
	}
	if recs := e.log.Records("removed servers"); len(recs) != 1 {
		t.Errorf("%d removals logged, want 1", len(recs))
	}
	if p := e.st.paramsOf("ServerDeleteStale")[0].(*store.ServerDeleteStaleParams); !p.Before.Equal(e.clock.Now().Add(-time.Minute)) {
		t.Errorf("ServerDeleteStale before %v, want a minute before %v", p.Before, e.clock.Now())
	}
	e.st.set("ServerDeleteStale", errors.New("down"))
	if _, err := reap.Run(t.Context()); err == nil {
		t.Error("reaper: no error from a failed delete")
	}

	e.st.set("JobStatsFold", nil, 4)
	if n, err := task(t, s, "stats").Run(t.Context()); n != 4 || err != nil {
		t.Errorf("stats folder: %d, %v", n, err)
	}
	p := e.st.paramsOf("JobStatsFold")[0].(*store.JobStatsFoldParams)
	if !p.Now.Equal(e.clock.Now()) || !p.HistoryBefore.Equal(e.clock.Now().Add(-HistoryRetention)) {
		t.Errorf("JobStatsFold params %+v", p)
	}
}

// TestCleanerSteps checks the cleaner's order (stale service reports,
// stored rules, finished jobs, then occurrences, batches and audit
// entries once fewer than a batch of jobs went), its cut-offs, and that
// each step's error ends the pass.
func TestCleanerSteps(t *testing.T) {
	t.Parallel()
	e := newTaskEnv()
	e.cfg.AuditRetention = 30 * 24 * time.Hour
	clean := task(t, New(e.cfg), "cleaner")
	now := e.clock.Now()

	e.st.set("JobDeleteFinished", nil, batchSize)
	if n, err := clean.Run(t.Context()); n != batchSize || err != nil {
		t.Errorf("cleaner with a full batch of jobs: %d, %v", n, err)
	}
	want := []string{"ServiceDeleteStale", "RetentionList", "JobDeleteFinished"}
	if got := e.st.callsSoFar(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v (jobs first while a batch is full)", got, want)
	}

	e.st.set("JobDeleteFinished", nil, 5)
	e.st.set("BatchDeleteOld", nil, 7)
	if n, err := clean.Run(t.Context()); n != 7 || err != nil {
		t.Errorf("cleaner: %d, %v; want 7 (the most rows of one step)", n, err)
	}
	want = append(want, "ServiceDeleteStale", "RetentionList", "JobDeleteFinished", "RecurringOccurrenceDeleteOld",
		"BatchDeleteOld", "AuditDeleteOld")
	if got := e.st.callsSoFar(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	if p := e.st.paramsOf("ServiceDeleteStale")[0].(*store.ServiceDeleteStaleParams); !p.Before.Equal(now.Add(-24 * time.Hour)) {
		t.Errorf("ServiceDeleteStale before %v, want a day ago", p.Before)
	}
	jp := e.st.paramsOf("JobDeleteFinished")[0].(*store.JobDeleteFinishedParams)
	if !jp.CompletedBefore.Equal(now.Add(-24*time.Hour)) || !jp.CancelledBefore.Equal(now.Add(-7*24*time.Hour)) ||
		!jp.DiscardedBefore.Equal(now.Add(-3*24*time.Hour)) || jp.Max != batchSize {
		t.Errorf("JobDeleteFinished params %+v", jp)
	}
	longest := now.Add(-7 * 24 * time.Hour) // the longest of the three retentions
	if p := e.st.paramsOf("RecurringOccurrenceDeleteOld")[0].(*store.RecurringOccurrenceDeleteOldParams); !p.Before.Equal(longest) {
		t.Errorf("RecurringOccurrenceDeleteOld before %v, want %v", p.Before, longest)
	}
	if p := e.st.paramsOf("BatchDeleteOld")[0].(*store.BatchDeleteOldParams); !p.Before.Equal(longest) {
		t.Errorf("BatchDeleteOld before %v, want %v", p.Before, longest)
	}
	if p := e.st.paramsOf("AuditDeleteOld")[0].(*store.AuditDeleteOldParams); !p.Before.Equal(now.Add(-30 * 24 * time.Hour)) {
		t.Errorf("AuditDeleteOld before %v, want 30 days ago", p.Before)
	}

	for _, method := range []string{"ServiceDeleteStale", "RetentionList", "JobDeleteFinished",
		"RecurringOccurrenceDeleteOld", "BatchDeleteOld", "AuditDeleteOld"} {
		boom := errors.New(method + " failed")
		e.st.set(method, boom)
		if _, err := clean.Run(t.Context()); !errors.Is(err, boom) {
			t.Errorf("cleaner with %s failing: %v", method, err)
		}
		e.st.set(method, nil)
	}
}

// TestStartRunsEveryTask starts the leader's services and the rescuer
// with short intervals, waits until every task has called the store, and
// stops them (goleak checks that they exited).
func TestStartRunsEveryTask(t *testing.T) {
	t.Parallel()
	e := newTaskEnv()
	e.cfg.ScheduleInterval, e.cfg.RescueInterval, e.cfg.CleanInterval = time.Millisecond, time.Millisecond, time.Millisecond
	e.cfg.ServerTTL = 4 * time.Millisecond
	leader, rescuer := New(e.cfg), NewRescuer(e.cfg)
	leader.Start(t.Context())
	rescuer.Start(t.Context())
	testutil.Eventually(t, "every task to call the store", func() bool {
		calls := e.st.callsSoFar()
		for _, m := range []string{"JobScheduleDue", "JobDeleteFinished", "JobResolvePending", "ServerDeleteStale",
			"JobStatsFold", "JobRescueExpired"} {
			if !slices.Contains(calls, m) {
				return false
			}
		}
		return true
	})
	leader.Stop()
	rescuer.Stop()
}

// TestVacuumerAsksTheStore checks that each pass of the vacuumer asks the
// store to vacuum the jobs table from VacuumMinDead dead rows, logs a
// vacuum the store made (and nothing when it made none), and returns the
// store's error.
func TestVacuumerAsksTheStore(t *testing.T) {
	t.Parallel()
	e := newTaskEnv()
	vacuum := task(t, New(e.cfg), "vacuum")
	e.st.set("JobVacuum", nil, 0, 250_000)
	for range 2 {
		if n, err := vacuum.Run(t.Context()); n != 0 || err != nil {
			t.Fatalf("vacuumer: %d, %v; want 0, nil (a pass is never repeated)", n, err)
		}
		if recs := e.log.Records("vacuumed the jobs table"); len(recs) != len(e.st.paramsOf("JobVacuum"))-1 {
			t.Errorf("%d vacuums logged after %d passes, the first without a vacuum", len(recs), len(e.st.paramsOf("JobVacuum")))
		}
	}
	for _, p := range e.st.paramsOf("JobVacuum") {
		if p.(*store.JobVacuumParams).MinDead != VacuumMinDead {
			t.Errorf("JobVacuum params %+v, want MinDead %d", p, VacuumMinDead)
		}
	}
	e.st.set("JobVacuum", errors.New("permission denied"))
	if _, err := vacuum.Run(t.Context()); err == nil {
		t.Error("the vacuumer hid the store's error")
	}
}

// TestPassBoundsEachRun: a pass bounds each Run by its task's Timeout, or
// by service.CallTimeout without one; the vacuumer's is VacuumTimeout, so
// that a long VACUUM is not cut short at 30 s and started again at every
// pass.
func TestPassBoundsEachRun(t *testing.T) {
	t.Parallel()
	s := New(newTaskEnv().cfg)
	if got := task(t, s, "vacuum").Timeout; got != VacuumTimeout {
		t.Fatalf("vacuum task's Timeout %v, want VacuumTimeout (%v)", got, VacuumTimeout)
	}
	for _, c := range []struct{ timeout, min, max time.Duration }{
		{0, service.CallTimeout / 2, service.CallTimeout},
		{VacuumTimeout, VacuumTimeout / 2, VacuumTimeout},
	} {
		var left time.Duration
		s.pass(t.Context(), Task{Name: "t", Timeout: c.timeout, Run: func(ctx context.Context) (int, error) {
			deadline, ok := ctx.Deadline()
			if !ok {
				t.Fatal("Run without a deadline")
			}
			left = time.Until(deadline)
			return 0, nil
		}})
		if left < c.min || left > c.max {
			t.Errorf("Timeout %v: Run had %v left; want between %v and %v", c.timeout, left, c.min, c.max)
		}
	}
}
