package storetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// stats returns the store's StatsStore.
func (f *fixture) stats() store.StatsStore { return f.s }

// countJobs counts the jobs themselves, read with JobList, by queue and
// state, in JobCountByQueueState's order: what the counters must say.
func (f *fixture) countJobs() []store.JobCount {
	f.t.Helper()
	n := map[store.JobCount]int{}
	for _, j := range f.list(&store.JobListParams{Limit: store.MaxListLimit}) {
		n[store.JobCount{Queue: j.Queue, State: j.State}]++
	}
	counts := make([]store.JobCount, 0, len(n))
	for c, jobs := range n {
		c.Count = jobs
		counts = append(counts, c)
	}
	slices.SortFunc(counts, compareCounts)
	return counts
}

// compareCounts orders counts by queue, then state, bytewise.
func compareCounts(a, b store.JobCount) int {
	return cmp.Or(cmp.Compare(a.Queue, b.Queue), cmp.Compare(a.State, b.State))
}

// counts runs JobCountByQueueState and fails the test on error.
func (f *fixture) counts() []store.JobCount {
	f.t.Helper()
	counts, err := f.stats().JobCountByQueueState(f.ctx)
	if err != nil {
		f.t.Fatalf("JobCountByQueueState: %v", err)
	}
	return counts
}

// fold runs JobStatsFold at now and fails the test on error.
func (f *fixture) fold(now, historyBefore time.Time) {
	f.t.Helper()
	if _, err := f.stats().JobStatsFold(f.ctx, &store.JobStatsFoldParams{Now: now, HistoryBefore: historyBefore}); err != nil {
		f.t.Fatalf("JobStatsFold: %v", err)
	}
}

// splitCounts splits counts into the pairs with jobs, with their Count
// only, and the pairs with finished attempts, with their Finished only.
func splitCounts(counts []store.JobCount) (jobs, finished []store.JobCount) {
	jobs, finished = []store.JobCount{}, []store.JobCount{}
	for _, c := range counts {
		if c.Count != 0 {
			jobs = append(jobs, store.JobCount{Queue: c.Queue, State: c.State, Count: c.Count})
		}
		if c.Finished != 0 {
			finished = append(finished, store.JobCount{Queue: c.Queue, State: c.State, Finished: c.Finished})
		}
	}
	return jobs, finished
}

// wantCounts fails the test unless the job counts of JobCountByQueueState,
// before and after a JobStatsFold, equal the counts of the jobs
// themselves, and the fold changed no Finished counter.
func (f *fixture) wantCounts(after string) {
	f.t.Helper()
	want := f.countJobs()
	got, finished := splitCounts(f.counts())
	if !slices.Equal(got, want) {
		f.t.Errorf("after %s: JobCountByQueueState =\n%v\nthe jobs say\n%v", after, got, want)
	}
	f.fold(base, time.Time{})
	got, folded := splitCounts(f.counts())
	if !slices.Equal(got, want) {
		f.t.Errorf("after %s and a fold: JobCountByQueueState =\n%v\nthe jobs say\n%v", after, got, want)
	}
	if !slices.Equal(finished, folded) {
		f.t.Errorf("after %s: a fold changed the Finished counters from\n%v\nto\n%v", after, finished, folded)
	}
}

// wantFinishedTotal fails the test unless the Finished counters add up to
// want: the attempts that ended (moves that did not start from running,
// such as cancels, retries or promotions, do not count).
func (f *fixture) wantFinishedTotal(after string, want int) {
	f.t.Helper()
	got := 0
	for _, c := range f.counts() {
		got += c.Finished
	}
	if got != want {
		f.t.Errorf("after %s: Finished counters add up to %d, want %d", after, got, want)
	}
}

// finished returns the Finished counter of queue q in state.
func (f *fixture) finished(q string, state kilntype.JobState) int {
	f.t.Helper()
	for _, c := range f.counts() {
		if c.Queue == q && c.State == state {
			return c.Finished
		}
	}
	return 0
}

// history runs JobHistory and fails the test on error.
func (f *fixture) history(p *store.JobHistoryParams) []store.HistoryPoint {
	f.t.Helper()
	points, err := f.stats().JobHistory(f.ctx, p)
	if err != nil {
		f.t.Fatalf("JobHistory(%+v): %v", p, err)
	}
	return points
}

// wantHistory fails t unless got equals want, times in UTC.
func wantHistory(t *testing.T, what string, got, want []store.HistoryPoint) {
	t.Helper()
	if !slices.EqualFunc(got, want, func(a, b store.HistoryPoint) bool {
		return a.At.Equal(b.At) && a.At.Location() == time.UTC && a.Completed == b.Completed && a.Failed == b.Failed
	}) {
		t.Errorf("%s: JobHistory =\n%v\nwant\n%v", what, got, want)
	}
}

func testStats(t *testing.T, newStore NewStoreFunc) {
	t.Run("Empty", func(t *testing.T) {
		f := newFixture(t, newStore)
		if got := f.counts(); got == nil || len(got) != 0 {
			t.Errorf("JobCountByQueueState of an empty store = %#v, want an empty slice", got)
		}
		got := f.history(&store.JobHistoryParams{From: base.Add(-time.Hour), To: base, Bucket: time.Minute})
		if got == nil || len(got) != 0 {
			t.Errorf("JobHistory of an empty store = %#v, want an empty slice", got)
		}
	})

	t.Run("Insert", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.stats()
		f.insertN(3, queue("b"))
		f.insert(queue("a"), scheduled(base.Add(time.Hour)))
		f.insert(queue("a"), pending())
		f.insert(queue("a"), uniqueKey("k"))
		// Skipped as duplicates: of a stored job, and within one call.
		res := f.insertMany(params(queue("a"), uniqueKey("k")), params(queue("c"), uniqueKey("k2")),
			params(queue("c"), uniqueKey("k2")))
		if !res[0].UniqueSkipped || res[1].UniqueSkipped || !res[2].UniqueSkipped {
			t.Fatalf("unique skips = %v %v %v, want true false true",
				res[0].UniqueSkipped, res[1].UniqueSkipped, res[2].UniqueSkipped)
		}
		got := f.counts()
		want := []store.JobCount{
			{Queue: "a", State: kilntype.JobStateAvailable, Count: 1},
			{Queue: "a", State: kilntype.JobStatePending, Count: 1},
			{Queue: "a", State: kilntype.JobStateScheduled, Count: 1},
			{Queue: "b", State: kilntype.JobStateAvailable, Count: 3},
			{Queue: "c", State: kilntype.JobStateAvailable, Count: 1},
		}
		if !slices.Equal(got, want) {
			t.Errorf("JobCountByQueueState =\n%v\nwant\n%v", got, want)
		}
		f.wantCounts("inserts")
	})

	t.Run("ClaimAndFinish", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.stats()
		f.insertN(5, queue("q"))
		jobs := f.claim(claimParams("q", 3, base))
		if len(jobs) != 3 {
			t.Fatalf("claimed %d jobs, want 3", len(jobs))
		}
		f.wantCounts("a claim")
		// Every outcome a finish can write, each from a running job of a
		// queue of its own, counts one finished attempt of its state.
		for _, state := range []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateRetryable,
			kilntype.JobStateDiscarded, kilntype.JobStateCancelled, kilntype.JobStateScheduled,
			kilntype.JobStateAvailable} {
			job := f.running()
			wantApplied(t, f.finish(finishParams(job, state, base.Add(time.Second))), job.ID)
			f.wantCounts("a finish to " + string(state))
			if got := f.finished(job.Queue, state); got != 1 {
				t.Errorf("finish to %s: Finished = %d, want 1", state, got)
			}
		}
		// The same from jobs with a partition key, whose finish to
		// available a store may also track among the keys it claims by.
		for _, state := range []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateRetryable,
			kilntype.JobStateAvailable, kilntype.JobStateScheduled} {
			job := f.running(partition("key-" + string(state)))
			wantApplied(t, f.finish(finishParams(job, state, base.Add(time.Second))), job.ID)
			f.wantCounts("a finish to " + string(state) + " of a job with a partition key")
		}
		// A batch, with a job whose cancel was requested (it becomes
		// cancelled), and a stale finish that moves nothing.
		if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: jobs[0].ID, Now: base}); err != nil {
			t.Fatal(err)
		}
		stale := finishParams(jobs[2], kilntype.JobStateCompleted, base.Add(time.Second))
		stale.LeasedBy = procB
		wantApplied(t, f.finish(
			finishParams(jobs[0], kilntype.JobStateRetryable, base.Add(time.Second)),
			finishParams(jobs[1], kilntype.JobStateCompleted, base.Add(time.Second)),
			stale), jobs[0].ID, jobs[1].ID)
		wantState(t, f.get(jobs[0].ID), kilntype.JobStateCancelled)
		f.wantCounts("a batch of finishes")
		want := []store.JobCount{
			{Queue: "q", State: kilntype.JobStateCancelled, Finished: 1},
			{Queue: "q", State: kilntype.JobStateCompleted, Finished: 1},
		}
		_, finished := splitCounts(f.counts())
		if got := slices.DeleteFunc(finished, func(c store.JobCount) bool { return c.Queue != "q" }); !slices.Equal(got, want) {
			t.Errorf("Finished counters of queue q = %v, want %v", got, want)
		}
		// Renewing leases changes no count.
		if _, err := f.s.JobLeaseRenew(f.ctx, &store.JobLeaseRenewParams{LeasedBy: procA, IDs: []int64{jobs[2].ID},
			LeaseExpiresAt: base.Add(time.Hour), Now: base}); err != nil {
			t.Fatal(err)
		}
		f.wantCounts("a lease renewal")
	})

	t.Run("CancelRetryDelete", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.stats()
		now := base.Add(time.Minute)
		for _, state := range kilntype.JobStates() {
			job := f.inState(state)
			if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: job.ID, Now: now}); err != nil &&
				!state.Finalized() {
				t.Fatalf("cancel %s job: %v", state, err)
			}
			f.wantCounts("a cancel of a " + string(state) + " job")
		}
		for _, state := range []kilntype.JobState{kilntype.JobStateScheduled, kilntype.JobStateRetryable,
			kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded} {
			job := f.inState(state)
			if _, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: job.ID, Now: now}); err != nil {
				t.Fatalf("retry %s job: %v", state, err)
			}
			f.wantCounts("a retry of a " + string(state) + " job")
		}
		for _, state := range kilntype.JobStates() {
			if state == kilntype.JobStateRunning {
				continue
			}
			job := f.inState(state)
			if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: job.ID}); err != nil {
				t.Fatalf("delete %s job: %v", state, err)
			}
			f.wantCounts("a delete of a " + string(state) + " job")
		}
		// inState finished a job for retryable, completed, cancelled and
		// discarded, in each of the three loops.
		f.wantFinishedTotal("cancels, retries and deletes", 3*4)
	})

	t.Run("Maintenance", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.stats()
		f.insert(scheduled(base.Add(-time.Second)))
		f.retryable(base.Add(-time.Second))
		if _, err := f.s.JobScheduleDue(f.ctx, &store.JobScheduleDueParams{Now: base, Max: 10}); err != nil {
			t.Fatal(err)
		}
		f.wantCounts("JobScheduleDue")

		f.running()               // becomes retryable
		f.running(maxAttempts(1)) // becomes discarded
		requested := f.running()  // becomes cancelled
		if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: requested.ID, Now: base}); err != nil {
			t.Fatal(err)
		}
		rescued, err := f.s.JobRescueExpired(f.ctx, &store.JobRescueExpiredParams{Now: base.Add(2 * leaseTTL), Max: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(rescued) != 3 {
			t.Fatalf("rescued %d jobs, want 3", len(rescued))
		}
		f.wantCounts("JobRescueExpired")
		for _, j := range rescued {
			if got := f.finished(j.Queue, j.State); got != 1 {
				t.Errorf("rescue to %s: Finished = %d, want 1", j.State, got)
			}
		}

		for _, state := range []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded} {
			f.inState(state)
		}
		n, err := f.s.JobDeleteFinished(f.ctx, &store.JobDeleteFinishedParams{CompletedBefore: base.Add(time.Hour),
			CancelledBefore: base.Add(time.Hour), DiscardedBefore: base.Add(time.Hour), Max: 100})
		if err != nil {
			t.Fatal(err)
		}
		if n < 3 {
			t.Fatalf("JobDeleteFinished deleted %d jobs, want at least 3", n)
		}
		f.wantCounts("JobDeleteFinished")
		// A retryable job, three rescues, and a completed, cancelled and
		// discarded job.
		f.wantFinishedTotal("maintenance", 1+3+3)
	})

	t.Run("ResolvePending", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.stats()
		f.dependencies()
		ok, failed := f.running(), f.running()
		f.insert(childOf(kilntype.ParentFailureCancel, ok.ID), queue("children"))
		f.insert(childOf(kilntype.ParentFailureCancel, failed.ID), queue("children"))
		f.wantCounts("inserts of continuations")
		f.finish(finishParams(ok, kilntype.JobStateCompleted, base.Add(time.Second)),
			finishParams(failed, kilntype.JobStateDiscarded, base.Add(time.Second)))
		if moved := f.resolve(base.Add(time.Minute)); len(moved) != 2 {
			t.Fatalf("resolved %d jobs, want 2", len(moved))
		}
		got := f.counts()
		for _, state := range []kilntype.JobState{kilntype.JobStateAvailable, kilntype.JobStateCancelled} {
			i := slices.IndexFunc(got, func(c store.JobCount) bool { return c.Queue == "children" && c.State == state })
			if i < 0 || got[i].Count != 1 {
				t.Errorf("children %s: counts %v, want 1 job", state, got)
			}
		}
		f.wantCounts("JobResolvePending")
		f.wantFinishedTotal("JobResolvePending", 2)
	})

	t.Run("FoldDropsEmptyPairs", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.stats()
		job := f.insert(queue("gone"))
		if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: job.ID}); err != nil {
			t.Fatal(err)
		}
		for range 2 { // folding twice is harmless
			f.fold(base, time.Time{})
			if got := f.counts(); len(got) != 0 {
				t.Errorf("counts after the only job was deleted = %v, want none", got)
			}
		}
	})

	t.Run("FinishedOutlivesJobs", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.stats()
		job := f.inState(kilntype.JobStateCompleted, queue("kept"))
		if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: job.ID}); err != nil {
			t.Fatal(err)
		}
		f.fold(base, time.Time{})
		want := []store.JobCount{{Queue: "kept", State: kilntype.JobStateCompleted, Finished: 1}}
		if got := f.counts(); !slices.Equal(got, want) {
			t.Errorf("counts after the completed job was deleted = %v, want %v", got, want)
		}
		// A retry by hand and a second completion count again.
		job = f.inState(kilntype.JobStateCompleted, queue("kept"))
		if _, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: job.ID, Now: base}); err != nil {
			t.Fatal(err)
		}
		claimed := f.claim(claimParams("kept", 1, base.Add(time.Second)))
		if len(claimed) != 1 {
			t.Fatalf("claimed %d jobs, want 1", len(claimed))
		}
		f.finish(finishParams(claimed[0], kilntype.JobStateCompleted, base.Add(2*time.Second)))
		if got := f.finished("kept", kilntype.JobStateCompleted); got != 3 {
			t.Errorf("Finished = %d after three completions, want 3", got)
		}
	})

	t.Run("EveryChange", func(t *testing.T) { testStatsEveryChange(t, newStore) })
	t.Run("History", func(t *testing.T) { testStatsHistory(t, newStore) })
	t.Run("HistoryParams", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, p := range []store.JobHistoryParams{
			{From: base, To: base.Add(time.Hour), Bucket: 0},
			{From: base, To: base.Add(time.Hour), Bucket: 30 * time.Second},
			{From: base, To: base.Add(time.Hour), Bucket: 90 * time.Second},
			{From: base, To: base, Bucket: time.Minute},
			{From: base, To: base.Add(-time.Hour), Bucket: time.Minute},
			{From: base, To: base.Add(8 * 24 * time.Hour), Bucket: time.Minute},
		} {
			if _, err := f.stats().JobHistory(f.ctx, &p); err == nil {
				t.Errorf("JobHistory(%+v) succeeded, want an error", p)
			}
		}
	})

	t.Run("Concurrent", func(t *testing.T) { testStatsConcurrent(t, newStore) })
	t.Run("RebuildWhileJobsChange", func(t *testing.T) { testStatsRebuildWhileJobsChange(t, newStore) })
}

// testStatsHistory finishes and rescues jobs between folds made in several
// minutes, and checks the buckets of several sizes, a queue's, the
// rounding of the range, and the deletion of old minutes.
func testStatsHistory(t *testing.T, newStore NewStoreFunc) {
	f := newFixture(t, newStore)
	f.stats()
	at := func(minutes int) time.Time {
		return base.Truncate(time.Minute).Add(time.Duration(minutes) * time.Minute)
	}
	finish := func(state kilntype.JobState, mods ...jobMod) {
		job := f.running(mods...)
		wantApplied(t, f.finish(finishParams(job, state, base.Add(time.Second))), job.ID)
	}
	// Recorded by a fold in minute 0: 1 completed, 1 failed.
	finish(kilntype.JobStateCompleted)
	finish(kilntype.JobStateRetryable)
	for _, state := range []kilntype.JobState{kilntype.JobStateCancelled, kilntype.JobStateScheduled,
		kilntype.JobStateAvailable} {
		finish(state) // not counted
	}
	stale := f.running() // its stale finish moves nothing; rescued below
	p := finishParams(stale, kilntype.JobStateCompleted, base.Add(time.Second))
	p.LeasedBy = procB
	wantApplied(t, f.finish(p))
	f.fold(at(0).Add(30*time.Second), time.Time{})
	f.fold(at(0).Add(40*time.Second), time.Time{}) // nothing new

	// Recorded in minute 2: 2 completed (one in queue other), 3 failed (2
	// rescued, one of them discarded, and a discard).
	finish(kilntype.JobStateCompleted)
	finish(kilntype.JobStateCompleted, queue("other"))
	finish(kilntype.JobStateDiscarded)
	f.running(maxAttempts(1))
	if rescued, err := f.s.JobRescueExpired(f.ctx, &store.JobRescueExpiredParams{Now: base.Add(2 * leaseTTL), Max: 10}); err != nil || len(rescued) != 2 {
		t.Fatalf("JobRescueExpired: %d jobs, %v; want 2", len(rescued), err)
	}
	f.fold(at(2), time.Time{})

	// Recorded in minute 3, by a fold whose clock is in another zone.
	finish(kilntype.JobStateRetryable, queue("other"))
	f.fold(at(3).Add(59*time.Second).In(time.FixedZone("X", -5*3600)), time.Time{})

	minutes := []store.HistoryPoint{{At: at(0), Completed: 1, Failed: 1},
		{At: at(2), Completed: 2, Failed: 3}, {At: at(3), Failed: 1}}
	for _, tc := range []struct {
		what string
		p    store.JobHistoryParams
		want []store.HistoryPoint
	}{
		{"minutes", store.JobHistoryParams{From: at(-60), To: at(60), Bucket: time.Minute}, minutes},
		{"2-minute buckets", store.JobHistoryParams{From: at(-60), To: at(60), Bucket: 2 * time.Minute},
			[]store.HistoryPoint{{At: at(0), Completed: 1, Failed: 1}, {At: at(2), Completed: 2, Failed: 4}}},
		{"hours", store.JobHistoryParams{From: at(-60), To: at(60), Bucket: time.Hour},
			[]store.HistoryPoint{{At: at(0).Truncate(time.Hour), Completed: 3, Failed: 5}}},
		{"days", store.JobHistoryParams{From: base, To: base.Add(time.Second), Bucket: 24 * time.Hour},
			[]store.HistoryPoint{{At: at(0).Truncate(24 * time.Hour), Completed: 3, Failed: 5}}},
		{"one queue", store.JobHistoryParams{From: at(-60), To: at(60), Bucket: time.Minute, Queue: "other"},
			[]store.HistoryPoint{{At: at(2), Completed: 1}, {At: at(3), Failed: 1}}},
		{"rounded out", store.JobHistoryParams{From: at(2).Add(5 * time.Second), To: at(3).Add(5 * time.Second), Bucket: time.Minute},
			minutes[1:]},
		{"To excluded", store.JobHistoryParams{From: at(2), To: at(3), Bucket: time.Minute}, minutes[1:2]},
		{"another zone", store.JobHistoryParams{From: at(-60).In(time.FixedZone("Y", 3600)), To: at(60), Bucket: time.Minute},
			minutes},
	} {
		wantHistory(t, tc.what, f.history(&tc.p), tc.want)
	}

	all := &store.JobHistoryParams{From: at(-60), To: at(60), Bucket: time.Minute}
	other := &store.JobHistoryParams{From: at(-60), To: at(60), Bucket: time.Minute, Queue: "other"}
	f.fold(at(4), at(3))
	wantHistory(t, "after deleting the minutes before minute 3", f.history(all), minutes[2:])
	wantHistory(t, "one queue, after deleting the minutes before minute 3", f.history(other), minutes[2:])
}

// claimAndFinish inserts jobs jobs in each of the queues w0 to
// w{workers-1} and starts on wg one goroutine per queue that claims batch
// of its jobs at a time (at base) and finishes each with finish(job) in one
// JobFinishMany, until its queue has no job to claim; the first error of a
// goroutine goes to errs, which must have room for one per queue.
func (f *fixture) claimAndFinish(wg *sync.WaitGroup, errs chan<- error, workers, jobs, batch int,
	finish func(*kilntype.JobRow) *store.JobFinishParams) {
	for w := range workers {
		q := fmt.Sprintf("w%d", w)
		f.insertN(jobs, queue(q))
		wg.Go(func() {
			for {
				claimed, err := f.s.JobClaim(f.ctx, claimParams(q, batch, base))
				if err != nil {
					errs <- err
					return
				}
				if len(claimed) == 0 {
					return
				}
				ps := make([]*store.JobFinishParams, len(claimed))
				for i, j := range claimed {
					ps[i] = finish(j)
				}
				if _, err := f.s.JobFinishMany(f.ctx, ps); err != nil {
					errs <- err
					return
				}
			}
		})
	}
}

func testStatsConcurrent(t *testing.T, newStore NewStoreFunc) {
	f := newFixture(t, newStore)
	f.stats()
	const (
		workers = 4
		jobs    = 60
		batch   = 7
	)
	var (
		wg   sync.WaitGroup
		errs = make(chan error, workers+1)
		done = make(chan struct{})
	)
	f.claimAndFinish(&wg, errs, workers, jobs, batch, func(j *kilntype.JobRow) *store.JobFinishParams {
		state := []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateRetryable,
			kilntype.JobStateDiscarded}[j.ID%3]
		p := finishParams(j, state, base.Add(time.Second))
		p.ScheduledAt = base.Add(time.Hour) // not due again
		return p
	})
	// Folds run while the jobs change.
	folded := make(chan struct{})
	go func() {
		defer close(folded)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := f.stats().JobStatsFold(f.ctx, &store.JobStatsFoldParams{Now: base}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	<-folded
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	f.wantCounts("concurrent claims, finishes and folds")

	// Every job ran once: its state's Finished counter counts it, and so
	// does the history (wantCounts folded the last deltas).
	finished, jobsIn := map[kilntype.JobState]int{}, map[kilntype.JobState]int{}
	for _, c := range f.counts() {
		finished[c.State] += c.Finished
	}
	for _, c := range f.countJobs() {
		jobsIn[c.State] += c.Count
	}
	for _, state := range []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateRetryable, kilntype.JobStateDiscarded} {
		if finished[state] != jobsIn[state] {
			t.Errorf("%s: Finished = %d, but %d jobs are %s", state, finished[state], jobsIn[state], state)
		}
	}
	got := f.history(&store.JobHistoryParams{From: base.Add(-time.Hour), To: base.Add(time.Hour), Bucket: time.Hour})
	var sum store.HistoryPoint
	for _, p := range got {
		sum.Completed += p.Completed
		sum.Failed += p.Failed
	}
	completed := jobsIn[kilntype.JobStateCompleted]
	failed := jobsIn[kilntype.JobStateRetryable] + jobsIn[kilntype.JobStateDiscarded]
	if sum.Completed != completed || sum.Failed != failed || completed+failed != workers*jobs {
		t.Errorf("history counts %d completed and %d failed; the %d jobs say %d and %d",
			sum.Completed, sum.Failed, workers*jobs, completed, failed)
	}
}

// CheckMigratedCounts checks that a store's migration counts the jobs that
// exist when it runs: it gives s jobs in every state, calls unmigrate
// (which must undo the store's job counters migration, 007, as if the
// database predated it, and remove it from the applied migrations), runs
// s.Migrate, and compares the counters with the jobs. Stores call it from
// their own tests, since undoing a migration is theirs to do.
func CheckMigratedCounts(t *testing.T, s store.Store, unmigrate func()) {
	t.Helper()
	f := &fixture{t: t, s: s, ctx: t.Context()}
	f.stats()
	for i, state := range kilntype.JobStates() {
		for range i%3 + 1 {
			f.inState(state)
		}
	}
	unmigrate()
	if err := s.Migrate(f.ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	got, _ := splitCounts(f.counts())
	if want := f.countJobs(); !slices.Equal(got, want) {
		t.Errorf("counts after the migration =\n%v\nthe jobs say\n%v", got, want)
	}
	f.wantCounts("the migration")
}

// countAllJobs counts the jobs themselves by queue and state, in
// JobCountByQueueState's order, reading them page by page with JobList
// (oldest first, by Cursor), with ctx.
func (f *fixture) countAllJobs(ctx context.Context) ([]store.JobCount, error) {
	n := map[store.JobCount]int{}
	var cursor int64
	for {
		page, err := f.s.JobList(ctx, &store.JobListParams{OrderAsc: true, Cursor: cursor,
			Limit: store.MaxListLimit, ArgsPreview: 1})
		if err != nil {
			return nil, fmt.Errorf("JobList: %w", err)
		}
		for _, j := range page {
			n[store.JobCount{Queue: j.Queue, State: j.State}]++
		}
		if len(page) < store.MaxListLimit {
			break
		}
		cursor = page[len(page)-1].ID
	}
	counts := make([]store.JobCount, 0, len(n))
	for c, jobs := range n {
		c.Count = jobs
		counts = append(counts, c)
	}
	slices.SortFunc(counts, compareCounts)
	return counts, nil
}

// checkCounters, a cleanup of every fixture, fails the test unless the job
// counts of JobCountByQueueState equal the counts of the jobs themselves
// (by queue and state) when the test ends, before and after a
// JobStatsFold. It runs with a context of its own: the test's is cancelled
// before its cleanups run.
func (f *fixture) checkCounters() {
	t := f.t
	t.Helper()
	ctx := context.Background()
	want, err := f.countAllJobs(ctx)
	if err != nil {
		t.Errorf("counters at the end of the test: %v", err)
		return
	}
	for _, fold := range []bool{false, true} {
		if fold {
			if _, err := f.stats().JobStatsFold(ctx, &store.JobStatsFoldParams{Now: base}); err != nil {
				t.Errorf("counters at the end of the test: JobStatsFold: %v", err)
				return
			}
		}
		counts, err := f.stats().JobCountByQueueState(ctx)
		if err != nil {
			t.Errorf("counters at the end of the test: JobCountByQueueState: %v", err)
			return
		}
		if got, _ := splitCounts(counts); !slices.Equal(got, want) {
			t.Errorf("at the end of the test (folded: %v): JobCountByQueueState =\n%v\nthe jobs say\n%v", fold, got, want)
		}
	}
}

// testStatsEveryChange runs, one after another on one store, every kind of
// statement that moves jobs between queues and states or inserts or
// deletes them, in batches that mix queues and states where the method
// takes batches, and checks the counters against the jobs after each
// (wantCounts): in the PostgreSQL store each statement that moves jobs
// writes its own counter deltas (no trigger counts an UPDATE there), and
// the inserts' and deletes' triggers count the rest.
func testStatsEveryChange(t *testing.T, newStore NewStoreFunc) {
	f := newFixture(t, newStore)
	both := store.UniqueReplace{Args: true, Schedule: true}

	// A retryable job due now (claimed and failed first, alone in its
	// queue), so that one claim below takes available, due scheduled and
	// due retryable jobs of queue "a" together.
	f.retryable(base.Add(-time.Second), queue("a"))
	f.wantCounts("a retry")

	// Enqueue: one job, a batch over queues and states, unique skips, a
	// unique replace that moves a job from available to scheduled.
	f.insert(queue("a"))
	f.insertMany(params(queue("a")), params(queue("b")), params(queue("a"), scheduled(base.Add(-time.Second))),
		params(queue("b"), pending()), params(queue("a"), kind("other")), params(queue("c"), scheduled(base.Add(time.Hour))),
		params(queue("a"), uniqueKey("u1")), params(queue("a"), uniqueKey("u1")))
	f.wantCounts("inserts")
	f.insertMany(replacing(1, both, queue("r")))
	f.insertMany(replacing(2, both, queue("r"), scheduled(base.Add(time.Hour))))
	f.wantCounts("a unique replace")

	claimed := f.claim(claimParams("a", 10, base))
	if len(claimed) < 6 {
		t.Fatalf("claimed %d jobs of queue a, want 6", len(claimed))
	}
	f.wantCounts("a claim from every source")
	// A claim with kind limits (several rounds in one transaction when a
	// limit stops a round short).
	f.insertMany(params(queue("k"), kind("x")), params(queue("k"), kind("x")), params(queue("k"), kind("y")))
	limited := claimParams("k", 10, base)
	limited.KindLimits = map[string]int{"x": 1}
	claimed = append(claimed, f.claim(limited)...)
	f.wantCounts("a claim with kind limits")

	// Every outcome in one batch, one cancel-requested job among them, and
	// a stale one that moves nothing.
	if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: claimed[0].ID, Now: base}); err != nil {
		t.Fatal(err)
	}
	outcomes := []kilntype.JobState{kilntype.JobStateRetryable, kilntype.JobStateCompleted, kilntype.JobStateRetryable,
		kilntype.JobStateDiscarded, kilntype.JobStateScheduled, kilntype.JobStateAvailable, kilntype.JobStateCancelled}
	var batch []*store.JobFinishParams
	for i, state := range outcomes {
		batch = append(batch, finishParams(claimed[i], state, base.Add(time.Second)))
	}
	stale := finishParams(claimed[len(outcomes)], kilntype.JobStateCompleted, base.Add(time.Second))
	stale.LeasedBy = procB
	f.finish(append(batch, stale)...)
	f.wantCounts("a batch of every outcome")
	// Completions alone (the narrower statement), one of them stale.
	stale2 := finishParams(claimed[len(claimed)-1], kilntype.JobStateCompleted, base.Add(time.Second))
	stale2.LeasedBy = procB
	f.finish(finishParams(claimed[len(outcomes)], kilntype.JobStateCompleted, base.Add(time.Second)), stale2)
	f.wantCounts("a batch of completions")

	// Admin: cancel a running and a scheduled job, retry and delete.
	running := f.running()
	for _, id := range []int64{running.ID, f.inState(kilntype.JobStateScheduled).ID} {
		if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: id, Now: base}); err != nil {
			t.Fatal(err)
		}
	}
	f.wantCounts("cancels")
	if _, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: f.inState(kilntype.JobStateDiscarded).ID, Now: base}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: f.inState(kilntype.JobStateCompleted).ID}); err != nil {
		t.Fatal(err)
	}
	f.wantCounts("an admin retry and delete")

	// Maintenance: promotion, rescue, the cleaner.
	if _, err := f.s.JobScheduleDue(f.ctx, &store.JobScheduleDueParams{Now: base.Add(2 * time.Hour), Max: 100}); err != nil {
		t.Fatal(err)
	}
	f.wantCounts("JobScheduleDue")
	finished := 0
	for _, c := range f.counts() {
		finished += c.Finished
	}
	rescued, err := f.s.JobRescueExpired(f.ctx, &store.JobRescueExpiredParams{Now: base.Add(2 * leaseTTL), Max: 100})
	if err != nil || len(rescued) == 0 {
		t.Fatalf("JobRescueExpired = %d jobs, %v; want some", len(rescued), err)
	}
	f.wantCounts("JobRescueExpired")
	f.wantFinishedTotal("JobRescueExpired (its attempts end)", finished+len(rescued))
	if _, err := f.s.JobDeleteFinished(f.ctx, &store.JobDeleteFinishedParams{CompletedBefore: base.Add(time.Hour),
		CancelledBefore: base.Add(time.Hour), DiscardedBefore: base.Add(time.Hour), Max: 1}); err != nil {
		t.Fatal(err)
	}
	f.wantCounts("JobDeleteFinished")

	// Bulk operations over every state and queue.
	for _, state := range []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateDiscarded,
		kilntype.JobStateCancelled, kilntype.JobStateRetryable, kilntype.JobStateAvailable} {
		f.inState(state)
	}
	all := kilntype.JobFilter{States: kilntype.JobStates()}
	for _, step := range []struct {
		action kilntype.BulkAction
		target string
	}{{kilntype.BulkRetry, ""}, {kilntype.BulkMove, "moved"}, {kilntype.BulkCancel, ""}, {kilntype.BulkDelete, ""}} {
		f.bulkRun(f.bulkCreate(step.action, all, step.target), 3, 4)
		f.wantCounts("a bulk " + string(step.action))
	}

	// Continuations: children resolved when their parents finish.
	f.dependencies()
	ok, failed := f.running(), f.running()
	f.insert(childOf(kilntype.ParentFailureCancel, ok.ID), queue("children"))
	f.insert(childOf(kilntype.ParentFailureCancel, failed.ID), queue("children"))
	f.finish(finishParams(ok, kilntype.JobStateCompleted, base.Add(time.Second)),
		finishParams(failed, kilntype.JobStateDiscarded, base.Add(time.Second)))
	f.resolve(base.Add(time.Minute))
	f.wantCounts("JobResolvePending")
	// The children of given parents only (the releaser's statement).
	parent := f.running()
	f.insert(childOf(kilntype.ParentFailureRun, parent.ID), queue("children"))
	f.finish(finishParams(parent, kilntype.JobStateCompleted, base.Add(time.Second)))
	if moved, err := f.dependencies().JobResolvePending(f.ctx, &store.JobResolvePendingParams{Now: base.Add(time.Minute),
		Max: 10, Parents: []int64{parent.ID}}); err != nil || len(moved) != 1 {
		t.Fatalf("JobResolvePending of a parent's children = %d jobs, %v; want 1", len(moved), err)
	}
	f.wantCounts("JobResolvePending of a parent's children")

	// The changes that the steps above leave out: a claim by partition
	// key; cancels of an available and a pending job; the retry of a
	// completed job (its successful attempt kept as a row); a bulk retry
	// of a finished job with a unique key (retried alone).
	f.insertMany(params(kind("t"), partition("p1")), params(kind("t"), partition("p1")),
		params(kind("t"), partition("p2")), params(kind("t")))
	if got := f.claim(partitioned(10, 1)); len(got) != 3 {
		t.Fatalf("a claim by partition key took %d jobs, want 3", len(got))
	}
	f.wantCounts("a claim by partition key")
	for _, id := range []int64{f.insert(queue("x")).ID, f.insert(queue("x"), pending()).ID} {
		if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: id, Now: base}); err != nil {
			t.Fatal(err)
		}
	}
	f.wantCounts("cancels of an available and a pending job")
	if _, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: f.inState(kilntype.JobStateCompleted, queue("y")).ID,
		Now: base}); err != nil {
		t.Fatal(err)
	}
	f.wantCounts("the retry of a completed job")
	f.inState(kilntype.JobStateDiscarded, queue("u"), uniqueKey("u2"))
	f.bulkRun(f.bulkCreate(kilntype.BulkRetry, kilntype.JobFilter{Queues: []string{"u"},
		States: []kilntype.JobState{kilntype.JobStateDiscarded}}, ""), 3, 4)
	f.wantCounts("a bulk retry of a job with a unique key")
}

// CheckCountRebuild checks JobCountRebuild on s: it gives s jobs in
// several queues and states, calls corrupt with one of those queues (it
// must make the counters of that queue miss a change or count one that
// did not happen: on PostgreSQL an UPDATE by hand of a job, on SQLite an
// UPDATE of a counter), then checks that JobCountRebuild returns the
// difference between the jobs and the counters, that the counters then
// equal the jobs (before and after a fold) with the Finished counters
// unchanged, and that a second call corrects nothing. Stores call it from
// their own tests, since corrupting the counters is theirs to do.
func CheckCountRebuild(t *testing.T, s store.Store, corrupt func(queue string)) {
	t.Helper()
	f := &fixture{t: t, s: s, ctx: t.Context()}
	f.insertN(3, queue("a"))
	f.insertN(2, queue("b"), scheduled(base.Add(time.Hour)))
	for _, state := range []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateRetryable,
		kilntype.JobStateRunning} {
		f.inState(state)
	}
	f.wantCounts("the jobs' setup")
	_, finished := splitCounts(f.counts())
	corrupt("a")
	before, _ := splitCounts(f.counts())
	jobs := f.countJobs()
	if slices.Equal(before, jobs) {
		t.Fatalf("corrupt left the counters equal to the jobs: %v", jobs)
	}
	// want: the jobs minus the counters, pair by pair.
	diff := map[store.JobCount]int{}
	for _, c := range jobs {
		diff[store.JobCount{Queue: c.Queue, State: c.State}] += c.Count
	}
	for _, c := range before {
		diff[store.JobCount{Queue: c.Queue, State: c.State}] -= c.Count
	}
	want := []store.JobCount{}
	for c, n := range diff {
		if n != 0 {
			c.Count = n
			want = append(want, c)
		}
	}
	slices.SortFunc(want, compareCounts)
	got, err := s.JobCountRebuild(f.ctx)
	if err != nil {
		t.Fatalf("JobCountRebuild: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("JobCountRebuild corrected\n%v\nwant\n%v", got, want)
	}
	f.wantCounts("JobCountRebuild")
	if _, after := splitCounts(f.counts()); !slices.Equal(after, finished) {
		t.Errorf("JobCountRebuild changed the Finished counters from\n%v\nto\n%v", finished, after)
	}
	if again, err := s.JobCountRebuild(f.ctx); err != nil || len(again) != 0 {
		t.Errorf("a second JobCountRebuild = %v, %v; want no correction", again, err)
	}
}

// testStatsRebuildWhileJobsChange runs JobCountRebuild again and again
// while jobs are claimed and finished in several queues and folds run: the
// counters are right throughout, so no call may correct anything (a call
// that read the jobs and the counters at different moments would), and
// they are right at the end.
func testStatsRebuildWhileJobsChange(t *testing.T, newStore NewStoreFunc) {
	f := newFixture(t, newStore)
	const (
		workers = 3
		jobs    = 40
		batch   = 5
	)
	var (
		wg   sync.WaitGroup
		errs = make(chan error, workers+2)
		done = make(chan struct{})
	)
	f.claimAndFinish(&wg, errs, workers, jobs, batch, func(j *kilntype.JobRow) *store.JobFinishParams {
		return finishParams(j, []kilntype.JobState{kilntype.JobStateCompleted,
			kilntype.JobStateDiscarded}[j.ID%2], base.Add(time.Second))
	})
	var bg sync.WaitGroup
	bg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := f.stats().JobStatsFold(f.ctx, &store.JobStatsFoldParams{Now: base}); err != nil {
				errs <- err
				return
			}
		}
	})
	rebuilds := 0
	bg.Go(func() {
		for {
			fixed, err := f.stats().JobCountRebuild(f.ctx)
			if err != nil {
				errs <- err
				return
			}
			if len(fixed) != 0 {
				errs <- fmt.Errorf("JobCountRebuild while jobs change corrected %v; the counters were right", fixed)
				return
			}
			rebuilds++
			select {
			case <-done:
				return
			default:
			}
		}
	})
	wg.Wait()
	close(done)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if rebuilds == 0 {
		t.Fatal("no JobCountRebuild ran")
	}
	f.wantCounts("claims, finishes, folds and rebuilds at once")
}
