package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func testFinish(t *testing.T, newStore NewStoreFunc) {
	now := base.Add(10 * time.Second)
	later := base.Add(time.Hour)
	for _, tc := range []struct {
		state       kilntype.JobState
		undo        bool
		wantAttempt int
		final       bool
	}{
		{kilntype.JobStateCompleted, false, 1, true},
		{kilntype.JobStateDiscarded, false, 1, true},
		{kilntype.JobStateCancelled, false, 1, true},
		{kilntype.JobStateRetryable, false, 1, false},
		{kilntype.JobStateScheduled, true, 0, false}, // snoozed
		{kilntype.JobStateAvailable, true, 0, false}, // interrupted by shutdown
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			f := newFixture(t, newStore)
			job := f.running()
			p := finishParams(job, tc.state, now)
			p.ScheduledAt = later
			p.UndoAttempt = tc.undo
			if tc.state != kilntype.JobStateCompleted {
				// A successful attempt has neither error nor trace: it is
				// kept on the job's row, which has no room for them.
				p.Attempt.Trace = "trace " + string(tc.state)
			}
			wantApplied(t, f.finish(p), job.ID)

			want := *job
			want.State = tc.state
			want.Attempt = tc.wantAttempt
			want.LeasedBy = ""
			want.LeaseExpiresAt = nil
			want.LastError = p.Attempt.Error
			if tc.final {
				want.FinalizedAt = &now // ScheduledAt is kept
			} else {
				want.ScheduledAt = later
			}
			wantSameJob(t, f.get(job.ID), &want)

			as := f.attempts(job.ID)
			if len(as) != 1 {
				t.Fatalf("%d attempts recorded, want 1", len(as))
			}
			wantAttempt(t, as[0], &p.Attempt)
		})
	}

	t.Run("KeepsLastErrorOnSuccess", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.retryable(base) // failed once with "boom retryable"
		job = f.claim(claimParams(job.Queue, 1, base.Add(time.Minute)))[0]
		f.finish(finishParams(job, kilntype.JobStateCompleted, base.Add(2*time.Minute)))
		got := f.get(job.ID)
		wantState(t, got, kilntype.JobStateCompleted)
		if got.LastError != "boom retryable" || got.Attempt != 2 {
			t.Errorf("LastError, Attempt = %q, %d; want %q, 2", got.LastError, got.Attempt, "boom retryable")
		}
		if n := len(f.attempts(job.ID)); n != 2 {
			t.Errorf("%d attempts, want 2", n)
		}
	})

	t.Run("ClearsCancelRequest", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.running()
		if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: job.ID, Now: base}); err != nil {
			t.Fatal(err)
		}
		f.finish(finishParams(job, kilntype.JobStateCancelled, now))
		got := f.get(job.ID)
		wantState(t, got, kilntype.JobStateCancelled)
		if got.CancelRequestedAt != nil {
			t.Errorf("CancelRequestedAt = %v, want nil", *got.CancelRequestedAt)
		}
	})

	t.Run("SkippedWhenLeasedByAnother", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.running()
		p := finishParams(job, kilntype.JobStateCompleted, now)
		p.LeasedBy = procB
		p.Attempt.Server = procB
		wantApplied(t, f.finish(p))
		wantSameJob(t, f.get(job.ID), job)
		as := f.attempts(job.ID)
		if len(as) != 1 {
			t.Fatalf("%d attempts recorded, want 1 (recorded even when skipped)", len(as))
		}
		wantAttempt(t, as[0], &p.Attempt)
	})

	t.Run("RetriedAfterLostAnswer", func(t *testing.T) {
		// The first call committed but its answer was lost (the connection
		// dropped): the caller sends the same outcome again, which must
		// neither move the job nor record the attempt a second time.
		f := newFixture(t, newStore)
		job := f.running()
		p := finishParams(job, kilntype.JobStateCompleted, now)
		wantApplied(t, f.finish(p), job.ID)
		wantApplied(t, f.finish(p))
		wantState(t, f.get(job.ID), kilntype.JobStateCompleted)
		as := f.attempts(job.ID)
		if len(as) != 1 {
			t.Fatalf("%d attempts recorded, want 1", len(as))
		}
		wantAttempt(t, as[0], &p.Attempt)
	})

	t.Run("StaleSuccessRecordedOnce", func(t *testing.T) {
		// A copy of the job that lost its lease succeeded after another
		// claim completed the job: its attempt is history too, recorded
		// once however often the call is retried, and the job's own
		// successful attempt stays last.
		f := newFixture(t, newStore)
		job := f.running()
		stale := finishParams(job, kilntype.JobStateCompleted, now)
		stale.LeasedBy = "process-gone"
		stale.Attempt.Server = "process-gone"
		fresh := finishParams(job, kilntype.JobStateCompleted, now.Add(time.Second))
		wantApplied(t, f.finish(fresh), job.ID)
		wantApplied(t, f.finish(stale))
		wantApplied(t, f.finish(stale))
		wantApplied(t, f.finish(fresh))
		as := f.attempts(job.ID)
		if len(as) != 2 {
			t.Fatalf("%d attempts recorded, want 2", len(as))
		}
		wantAttempt(t, as[0], &stale.Attempt)
		wantAttempt(t, as[1], &fresh.Attempt)
	})

	t.Run("SkippedForAnotherClaim", func(t *testing.T) {
		// The same process claimed the job again after a rescue: the
		// outcome of the first claim's copy must not apply.
		f := newFixture(t, newStore)
		job := f.running()
		p := finishParams(job, kilntype.JobStateCompleted, now)
		p.AttemptedAt = job.AttemptedAt.Add(-time.Minute)
		wantApplied(t, f.finish(p))
		wantSameJob(t, f.get(job.ID), job)
		p.AttemptedAt = *job.AttemptedAt
		wantApplied(t, f.finish(p), job.ID)
	})

	t.Run("CancelRequestWinsOverRetry", func(t *testing.T) {
		for _, state := range []kilntype.JobState{kilntype.JobStateRetryable, kilntype.JobStateScheduled, kilntype.JobStateAvailable} {
			t.Run(string(state), func(t *testing.T) {
				f := newFixture(t, newStore)
				job := f.running()
				if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: job.ID, Now: base}); err != nil {
					t.Fatal(err)
				}
				wantApplied(t, f.finish(finishParams(job, state, now)), job.ID)
				got := f.get(job.ID)
				wantState(t, got, kilntype.JobStateCancelled)
				if got.FinalizedAt == nil || !got.FinalizedAt.Equal(now) {
					t.Errorf("FinalizedAt = %v, want %v", got.FinalizedAt, now)
				}
			})
		}
	})

	t.Run("SkippedWhenNotRunning", func(t *testing.T) {
		for _, state := range []kilntype.JobState{
			kilntype.JobStateAvailable, kilntype.JobStateRetryable, kilntype.JobStateCompleted,
		} {
			t.Run(string(state), func(t *testing.T) {
				f := newFixture(t, newStore)
				job := f.inState(state)
				before := len(f.attempts(job.ID))
				p := finishParams(job, kilntype.JobStateDiscarded, now)
				wantApplied(t, f.finish(p))
				wantSameJob(t, f.get(job.ID), job)
				if n := len(f.attempts(job.ID)); n != before+1 {
					t.Errorf("%d attempts, want %d", n, before+1)
				}
			})
		}
	})

	t.Run("ManyInOneCall", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(5)
		jobs := f.claim(claimParams("default", 5, base))
		var ps []*store.JobFinishParams
		states := []kilntype.JobState{
			kilntype.JobStateCompleted, kilntype.JobStateRetryable, kilntype.JobStateCompleted,
			kilntype.JobStateDiscarded, kilntype.JobStateScheduled,
		}
		for i, j := range jobs {
			ps = append(ps, finishParams(j, states[i], now))
		}
		ps[1].LeasedBy = procB // skipped
		wantApplied(t, f.finish(ps...), jobs[0].ID, jobs[2].ID, jobs[3].ID, jobs[4].ID)
		for i, j := range jobs {
			want := states[i]
			if i == 1 {
				want = kilntype.JobStateRunning
			}
			wantState(t, f.get(j.ID), want)
			if n := len(f.attempts(j.ID)); n != 1 {
				t.Errorf("job %d: %d attempts, want 1", j.ID, n)
			}
		}
	})

	t.Run("CompletionsOfTwoProcessesInOneCall", func(t *testing.T) {
		// Completions of jobs leased by two processes, one without the
		// claim's time, one leased by the first process but attempted on
		// another server, and a failure, in one call: each applies as it
		// would alone, and a completed job keeps its own attempt's server
		// and time.
		f := newFixture(t, newStore)
		f.insertN(5)
		jobs := f.claim(claimParams("default", 4, base))
		other := claimParams("default", 1, base)
		other.LeasedBy = procB
		jobs = append(jobs, f.claim(other)...)
		if len(jobs) != 5 {
			t.Fatalf("claimed %d jobs, want 5", len(jobs))
		}
		ps := []*store.JobFinishParams{
			finishParams(jobs[0], kilntype.JobStateCompleted, now),
			finishParams(jobs[1], kilntype.JobStateRetryable, now),
			finishParams(jobs[2], kilntype.JobStateCompleted, now.Add(time.Second)),
			finishParams(jobs[3], kilntype.JobStateCompleted, now.Add(3*time.Second)),
			finishParams(jobs[4], kilntype.JobStateCompleted, now.Add(2*time.Second)),
		}
		ps[2].AttemptedAt = time.Time{} // any claim
		ps[3].Attempt.Server = "server-2"
		ps[4].LeasedBy, ps[4].Attempt.Server = procB, procB
		got, want := f.finish(ps...), ids(jobs)
		slices.Sort(got)
		slices.Sort(want)
		wantApplied(t, got, want...)
		for i, j := range jobs {
			row := f.get(j.ID)
			wantState(t, row, ps[i].State)
			if ps[i].State == kilntype.JobStateCompleted && (row.FinalizedAt == nil || !row.FinalizedAt.Equal(ps[i].Now)) {
				t.Errorf("job %d: FinalizedAt = %v, want %v", j.ID, row.FinalizedAt, ps[i].Now)
			}
			as := f.attempts(j.ID)
			if len(as) != 1 {
				t.Fatalf("job %d: %d attempts, want 1", j.ID, len(as))
			}
			wantAttempt(t, as[0], &ps[i].Attempt)
		}
	})

	t.Run("ManyWithDeletedJob", func(t *testing.T) {
		// A late finish of a job that was rescued and deleted does not fail
		// the batch: the other jobs move and get their attempts.
		f := newFixture(t, newStore)
		gone := f.running()
		if _, err := f.s.JobRescueExpired(f.ctx, &store.JobRescueExpiredParams{Now: base.Add(2 * leaseTTL), Max: 10}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: gone.ID}); err != nil {
			t.Fatal(err)
		}
		f.insertN(3)
		jobs := f.claim(claimParams("default", 3, base))
		ps := []*store.JobFinishParams{finishParams(jobs[0], kilntype.JobStateCompleted, now),
			finishParams(gone, kilntype.JobStateCompleted, now)}
		for _, j := range jobs[1:] {
			ps = append(ps, finishParams(j, kilntype.JobStateRetryable, now))
		}
		wantApplied(t, f.finish(ps...), ids(jobs)...)
		for _, j := range jobs {
			if n := len(f.attempts(j.ID)); n != 1 {
				t.Errorf("job %d: %d attempts, want 1", j.ID, n)
			}
		}
		if n := len(f.attempts(gone.ID)); n != 0 {
			t.Errorf("deleted job: %d attempts, want 0", n)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		f := newFixture(t, newStore)
		if applied, err := f.s.JobFinishMany(f.ctx, nil); err != nil || len(applied) != 0 {
			t.Errorf("JobFinishMany(nil) = %v, %v; want nothing, nil", applied, err)
		}
	})
}

func testAttemptList(t *testing.T, newStore NewStoreFunc) {
	t.Run("OldestFirst", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.running()
		var want []*kilntype.JobAttempt
		for i := range 3 {
			p := finishParams(job, kilntype.JobStateRetryable, base.Add(time.Duration(i+1)*time.Minute))
			p.ScheduledAt = base
			f.finish(p)
			want = append(want, &p.Attempt)
			job = f.claim(claimParams(job.Queue, 1, base.Add(time.Hour)))[0]
		}
		got := f.attempts(job.ID)
		if len(got) != len(want) {
			t.Fatalf("%d attempts, want %d", len(got), len(want))
		}
		for i := range want {
			wantAttempt(t, got[i], want[i])
		}
	})

	t.Run("UnknownJob", func(t *testing.T) {
		f := newFixture(t, newStore)
		if got := f.attempts(987654); len(got) != 0 {
			t.Errorf("attempts of an unknown job: %v", got)
		}
	})
}
