package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func testScheduleDue(t *testing.T, newStore NewStoreFunc) {
	t.Run("MovesDueJobs", func(t *testing.T) {
		f := newFixture(t, newStore)
		now := base.Add(2 * time.Hour)
		retryableDue := f.retryable(now.Add(-time.Second))
		retryableLater := f.retryable(now.Add(time.Second))
		scheduledDue := f.insert(scheduled(now.Add(-time.Hour)))
		scheduledNow := f.insert(scheduled(now))
		scheduledLater := f.insert(scheduled(now.Add(time.Microsecond)))
		pendingJob := f.insert(pending(), scheduledAt(now.Add(-time.Hour)))
		running := f.running()

		n, err := f.s.JobScheduleDue(f.ctx, &store.JobScheduleDueParams{Now: now, Max: 100})
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Errorf("moved %d jobs, want 3", n)
		}
		for _, j := range []*kilntype.JobRow{retryableDue, scheduledDue, scheduledNow} {
			want := *j
			want.State = kilntype.JobStateAvailable
			wantSameJob(t, f.get(j.ID), &want) // ScheduledAt and Attempt kept
		}
		for _, j := range []*kilntype.JobRow{retryableLater, scheduledLater, pendingJob, running} {
			wantSameJob(t, f.get(j.ID), j)
		}
	})

	t.Run("Max", func(t *testing.T) {
		f := newFixture(t, newStore)
		at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
		j3 := f.insert(scheduled(at(-3)))
		j1 := f.insert(scheduled(at(-5)))
		j2 := f.insert(scheduled(at(-4)))
		for i, want := range [][]*kilntype.JobRow{{j1, j2}, {j3}, nil} {
			n, err := f.s.JobScheduleDue(f.ctx, &store.JobScheduleDueParams{Now: base, Max: 2})
			if err != nil {
				t.Fatal(err)
			}
			if n != len(want) {
				t.Errorf("call %d moved %d jobs, want %d", i, n, len(want))
			}
			for _, j := range want {
				wantState(t, f.get(j.ID), kilntype.JobStateAvailable)
			}
		}
	})
}

func testRescue(t *testing.T, newStore NewStoreFunc) {
	expired := base.Add(leaseTTL) // when the leases of f.running() jobs end
	rescue := func(f *fixture, now time.Time, max int) []*kilntype.JobRow {
		f.t.Helper()
		jobs, err := f.s.JobRescueExpired(f.ctx, &store.JobRescueExpiredParams{Now: now, Max: max})
		if err != nil {
			f.t.Fatalf("JobRescueExpired: %v", err)
		}
		return jobs
	}

	t.Run("NotYetExpired", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.running()
		for _, now := range []time.Time{base, expired.Add(-time.Microsecond), expired} {
			if got := rescue(f, now, 10); len(got) != 0 {
				t.Errorf("rescued at %v: %v", now, ids(got))
			}
		}
		wantSameJob(t, f.get(job.ID), job)
		if n := len(f.attempts(job.ID)); n != 0 {
			t.Errorf("%d attempts, want 0", n)
		}
	})

	for _, tc := range []struct {
		name        string
		maxAttempts int
		cancel      bool
		want        kilntype.JobState
	}{
		{"Retryable", 3, false, kilntype.JobStateRetryable},
		{"DiscardedWhenAttemptsExhausted", 1, false, kilntype.JobStateDiscarded},
		{"CancelledWhenCancelRequested", 3, true, kilntype.JobStateCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, newStore)
			job := f.running(maxAttempts(tc.maxAttempts))
			if tc.cancel {
				if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: job.ID, Now: base}); err != nil {
					t.Fatal(err)
				}
			}
			now := expired.Add(time.Second)
			got := rescue(f, now, 10)
			if len(got) != 1 {
				t.Fatalf("rescued %v, want job %d", ids(got), job.ID)
			}
			stored := f.get(job.ID)
			wantSameJob(t, got[0], stored)
			wantState(t, stored, tc.want)
			if stored.Attempt != 1 {
				t.Errorf("Attempt = %d, want 1 (a lost attempt counts)", stored.Attempt)
			}
			if stored.LeasedBy != "" || stored.LeaseExpiresAt != nil {
				t.Errorf("lease not cleared: %q until %v", stored.LeasedBy, stored.LeaseExpiresAt)
			}
			if tc.want == kilntype.JobStateRetryable {
				wantTime(t, "ScheduledAt", stored.ScheduledAt, now)
				wantTimePtr(t, "FinalizedAt", stored.FinalizedAt, nil)
			} else {
				wantTimePtr(t, "FinalizedAt", stored.FinalizedAt, &now)
			}

			as := f.attempts(job.ID)
			if len(as) != 1 {
				t.Fatalf("%d attempts, want 1", len(as))
			}
			a := as[0]
			if a.JobID != job.ID || a.Attempt != 1 || a.Server != procA || a.Outcome != kilntype.AttemptInterrupted {
				t.Errorf("attempt = %+v, want attempt 1 of job %d by %s, interrupted", a, job.ID, procA)
			}
			wantTime(t, "attempt StartedAt", a.StartedAt, *job.AttemptedAt)
			wantTimePtr(t, "attempt FinishedAt", a.FinishedAt, &now)
			if !strings.Contains(a.Error, "lease") || !strings.Contains(a.Error, procA) {
				t.Errorf("attempt Error = %q, want it to say the lease of %s expired", a.Error, procA)
			}
		})
	}

	t.Run("MaxAndLateFinish", func(t *testing.T) {
		f := newFixture(t, newStore)
		jobs := []*kilntype.JobRow{f.running(), f.running(), f.running()}
		now := expired.Add(time.Second)
		first := rescue(f, now, 2)
		second := rescue(f, now, 2)
		if len(first) != 2 || len(second) != 1 {
			t.Fatalf("rescued %d then %d jobs, want 2 then 1", len(first), len(second))
		}
		wantIDSet(t, "rescued", append(ids(first), ids(second)...), ids(jobs))
		// The old process finishes late: skipped, but its attempt recorded.
		rescued := f.get(jobs[0].ID)
		f.finish(finishParams(jobs[0], kilntype.JobStateCompleted, now.Add(time.Second)))
		wantSameJob(t, f.get(jobs[0].ID), rescued)
		if n := len(f.attempts(jobs[0].ID)); n != 2 {
			t.Errorf("%d attempts, want 2 (interrupted, then the late one)", n)
		}
	})

	t.Run("ConcurrentRescuersTakeEachJobOnce", func(t *testing.T) {
		// Every process runs a rescuer: rescues racing on the same expired
		// jobs must move each job once and record one interrupted attempt.
		f := newFixture(t, newStore)
		const n, rescuers = 60, 6
		f.insertN(n, queue("crowd"))
		jobs := f.claim(claimParams("crowd", n, base))
		if len(jobs) != n {
			t.Fatalf("claimed %d jobs, want %d", len(jobs), n)
		}
		now := expired.Add(time.Second)
		var (
			mu   sync.Mutex
			got  []int64
			wg   sync.WaitGroup
			errs = make(chan error, rescuers)
		)
		for range rescuers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					rows, err := f.s.JobRescueExpired(f.ctx, &store.JobRescueExpiredParams{Now: now, Max: 7})
					if err != nil {
						errs <- err
						return
					}
					if len(rows) == 0 {
						return
					}
					mu.Lock()
					got = append(got, ids(rows)...)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("JobRescueExpired: %v", err)
		}
		wantIDSet(t, "rescued", got, ids(jobs))
		for _, j := range jobs {
			wantState(t, f.get(j.ID), kilntype.JobStateRetryable)
			if as := f.attempts(j.ID); len(as) != 1 || as[0].Outcome != kilntype.AttemptInterrupted {
				t.Errorf("job %d has attempts %+v, want one interrupted", j.ID, as)
			}
		}
	})

	t.Run("RenewedLeaseNotRescued", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.running()
		if _, err := f.s.JobLeaseRenew(f.ctx, &store.JobLeaseRenewParams{
			LeasedBy: procA, IDs: []int64{job.ID}, LeaseExpiresAt: expired.Add(time.Hour), Now: expired,
		}); err != nil {
			t.Fatal(err)
		}
		if got := rescue(f, expired.Add(time.Minute), 10); len(got) != 0 {
			t.Errorf("rescued a renewed lease: %v", ids(got))
		}
	})
}

func testDeleteFinished(t *testing.T, newStore NewStoreFunc) {
	forEachCleanCall(t, newStore, testDeleteFinishedBy)
}

func testDeleteFinishedBy(t *testing.T, newStore NewStoreFunc, clean cleanCall) {
	// inState finalizes jobs at base+1s.
	finalized := base.Add(time.Second)
	after := finalized.Add(time.Microsecond)

	t.Run("CutOffsPerState", func(t *testing.T) {
		f := newFixture(t, newStore)
		completed := f.inState(kilntype.JobStateCompleted)
		cancelled := f.inState(kilntype.JobStateCancelled)
		discarded := f.inState(kilntype.JobStateDiscarded)
		var alive []*kilntype.JobRow
		for _, state := range []kilntype.JobState{kilntype.JobStatePending, kilntype.JobStateScheduled,
			kilntype.JobStateAvailable, kilntype.JobStateRunning, kilntype.JobStateRetryable} {
			alive = append(alive, f.inState(state))
		}
		deleteFinished := func(p *store.JobDeleteFinishedParams) int {
			t.Helper()
			n, err := clean.call(f.ctx, f.s, p)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		far := base.Add(1000 * time.Hour)

		// Cut-offs are exclusive; a zero cut-off keeps the state.
		if n := deleteFinished(&store.JobDeleteFinishedParams{
			CompletedBefore: finalized, CancelledBefore: finalized, DiscardedBefore: finalized, Max: 100,
		}); n != 0 {
			t.Errorf("deleted %d jobs finalized at the cut-off, want 0", n)
		}
		if n := deleteFinished(&store.JobDeleteFinishedParams{CompletedBefore: after, Max: 100}); n != 1 {
			t.Errorf("deleted %d, want 1 (completed)", n)
		}
		if _, err := f.s.JobGet(f.ctx, &store.JobGetParams{ID: completed.ID}); err == nil {
			t.Error("completed job still there")
		}
		if as := f.attempts(completed.ID); len(as) != 0 {
			t.Errorf("%d attempts of the deleted job left", len(as))
		}
		wantSameJob(t, f.get(cancelled.ID), cancelled)
		wantSameJob(t, f.get(discarded.ID), discarded)

		if n := deleteFinished(&store.JobDeleteFinishedParams{CancelledBefore: after, DiscardedBefore: far, Max: 100}); n != 2 {
			t.Errorf("deleted %d, want 2 (cancelled, discarded)", n)
		}
		if n := deleteFinished(&store.JobDeleteFinishedParams{
			CompletedBefore: far, CancelledBefore: far, DiscardedBefore: far, Max: 100,
		}); n != 0 {
			t.Errorf("deleted %d jobs that are not finalized", n)
		}
		for _, j := range alive {
			f.get(j.ID)
		}
	})

	t.Run("Max", func(t *testing.T) {
		f := newFixture(t, newStore)
		for range 5 {
			f.inState(kilntype.JobStateCompleted)
		}
		for i, want := range []int{2, 2, 1, 0} {
			n, err := clean.call(f.ctx, f.s, &store.JobDeleteFinishedParams{CompletedBefore: after, Max: 2})
			if err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("call %d deleted %d, want %d", i, n, want)
			}
		}
	})

	// A store reads the finalized jobs kind by kind: Max bounds a call
	// across kinds and states, and calls go on until every kind of every
	// state is deleted.
	t.Run("MaxAcrossKinds", func(t *testing.T) {
		f := newFixture(t, newStore)
		var doomed []*kilntype.JobRow
		for _, k := range []string{"a", "b", "c"} {
			doomed = append(doomed, f.inState(kilntype.JobStateCompleted, kind(k)),
				f.inState(kilntype.JobStateCompleted, kind(k), queue("other")))
		}
		doomed = append(doomed, f.inState(kilntype.JobStateDiscarded, kind("a")),
			f.inState(kilntype.JobStateDiscarded, kind("d")))
		kept := f.inState(kilntype.JobStateCancelled, kind("a"))
		for i, want := range []int{3, 3, 2, 0} {
			n, err := clean.call(f.ctx, f.s, &store.JobDeleteFinishedParams{
				CompletedBefore: after, DiscardedBefore: after, Max: 3})
			if err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("call %d deleted %d, want %d", i, n, want)
			}
		}
		for _, j := range doomed {
			if _, err := f.s.JobGet(f.ctx, &store.JobGetParams{ID: j.ID}); !errors.Is(err, kilntype.ErrNotFound) {
				t.Errorf("job %d (%s, %s, %s): %v, want ErrNotFound", j.ID, j.State, j.Kind, j.Queue, err)
			}
		}
		wantSameJob(t, f.get(kept.ID), kept)
	})
}
