package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func testCancel(t *testing.T, newStore NewStoreFunc) {
	now := base.Add(time.Minute)
	for _, state := range []kilntype.JobState{
		kilntype.JobStatePending, kilntype.JobStateScheduled,
		kilntype.JobStateAvailable, kilntype.JobStateRetryable,
	} {
		t.Run(string(state), func(t *testing.T) {
			f := newFixture(t, newStore)
			job := f.inState(state)
			got, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: job.ID, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			want := *job
			want.State = kilntype.JobStateCancelled
			want.FinalizedAt = &now
			wantSameJob(t, got, &want)
			wantSameJob(t, f.get(job.ID), &want)
			if c := f.claim(claimParams(job.Queue, 10, base.Add(24*time.Hour))); len(c) != 0 {
				t.Errorf("cancelled job claimed: %v", ids(c))
			}
		})
	}

	t.Run("running", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.running()
		got, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: job.ID, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		want := *job
		want.CancelRequestedAt = &now
		wantSameJob(t, got, &want)
		wantSameJob(t, f.get(job.ID), &want)
		// A second request keeps the first one's time.
		got, err = f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: job.ID, Now: now.Add(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		wantSameJob(t, got, &want)
	})

	t.Run("cancelled", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.inState(kilntype.JobStateCancelled)
		got, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: job.ID, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		wantSameJob(t, got, job)
		wantSameJob(t, f.get(job.ID), job)
	})

	for _, state := range []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateDiscarded} {
		t.Run(string(state), func(t *testing.T) {
			f := newFixture(t, newStore)
			job := f.inState(state)
			if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: job.ID, Now: now}); !errors.Is(err, kilntype.ErrJobState) {
				t.Errorf("error = %v, want ErrJobState", err)
			}
			wantSameJob(t, f.get(job.ID), job)
		})
	}

	t.Run("NotFound", func(t *testing.T) {
		f := newFixture(t, newStore)
		if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: 987654, Now: now}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("error = %v, want ErrNotFound", err)
		}
	})
}

func testRetry(t *testing.T, newStore NewStoreFunc) {
	now := base.Add(time.Minute)
	for _, state := range []kilntype.JobState{
		kilntype.JobStateScheduled, kilntype.JobStateRetryable, kilntype.JobStateCancelled,
		kilntype.JobStateDiscarded, kilntype.JobStateCompleted,
	} {
		t.Run(string(state), func(t *testing.T) {
			f := newFixture(t, newStore)
			job := f.inState(state)
			got, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: job.ID, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			want := *job
			want.State = kilntype.JobStateAvailable
			want.ScheduledAt = now
			want.FinalizedAt = nil
			wantSameJob(t, got, &want)
			wantSameJob(t, f.get(job.ID), &want)
			wantIDs(t, "claimed after retry", ids(f.claim(claimParams(job.Queue, 10, now))), []int64{job.ID})
		})
	}

	t.Run("KeepsSuccessfulAttempt", func(t *testing.T) {
		// A completed job retried and run again lists both successful
		// attempts, in order.
		f := newFixture(t, newStore)
		job := f.running()
		first := finishParams(job, kilntype.JobStateCompleted, now)
		wantApplied(t, f.finish(first), job.ID)
		if _, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: job.ID, Now: now}); err != nil {
			t.Fatal(err)
		}
		as := f.attempts(job.ID)
		if len(as) != 1 {
			t.Fatalf("after retry: %d attempts, want 1", len(as))
		}
		wantAttempt(t, as[0], &first.Attempt)
		again := f.claim(claimParams(job.Queue, 1, now.Add(time.Second)))
		if len(again) != 1 {
			t.Fatalf("claimed %d jobs after retry, want 1", len(again))
		}
		second := finishParams(again[0], kilntype.JobStateCompleted, now.Add(2*time.Second))
		wantApplied(t, f.finish(second), job.ID)
		as = f.attempts(job.ID)
		if len(as) != 2 {
			t.Fatalf("after the second run: %d attempts, want 2", len(as))
		}
		wantAttempt(t, as[0], &first.Attempt)
		wantAttempt(t, as[1], &second.Attempt)
	})

	t.Run("RaisesMaxAttempts", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.inState(kilntype.JobStateDiscarded, maxAttempts(1)) // Attempt 1 of 1
		got, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: job.ID, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if got.Attempt != 1 || got.MaxAttempts != 2 {
			t.Errorf("Attempt, MaxAttempts = %d, %d; want 1, 2", got.Attempt, got.MaxAttempts)
		}
		// Attempts left: MaxAttempts unchanged.
		job = f.inState(kilntype.JobStateCancelled, maxAttempts(3))
		if got, err = f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: job.ID, Now: now}); err != nil {
			t.Fatal(err)
		}
		if got.MaxAttempts != 3 {
			t.Errorf("MaxAttempts = %d, want 3", got.MaxAttempts)
		}
	})

	t.Run("available", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.insert()
		got, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: job.ID, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		wantSameJob(t, got, job)
		wantSameJob(t, f.get(job.ID), job)
	})

	t.Run("running", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.running()
		if _, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: job.ID, Now: now}); !errors.Is(err, kilntype.ErrJobRunning) {
			t.Errorf("error = %v, want ErrJobRunning", err)
		}
		wantSameJob(t, f.get(job.ID), job)
	})

	t.Run("pending", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.inState(kilntype.JobStatePending)
		if _, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: job.ID, Now: now}); !errors.Is(err, kilntype.ErrJobState) {
			t.Errorf("error = %v, want ErrJobState", err)
		}
		wantSameJob(t, f.get(job.ID), job)
	})

	t.Run("UniqueKeyTaken", func(t *testing.T) {
		f := newFixture(t, newStore)
		old := f.inState(kilntype.JobStateCompleted, uniqueKey("k"))
		f.insert(uniqueKey("k")) // holds the key now
		if _, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: old.ID, Now: now}); !errors.Is(err, kilntype.ErrJobState) {
			t.Errorf("error = %v, want ErrJobState", err)
		}
		wantSameJob(t, f.get(old.ID), old)
	})

	t.Run("NotFound", func(t *testing.T) {
		f := newFixture(t, newStore)
		if _, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: 987654, Now: now}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("error = %v, want ErrNotFound", err)
		}
	})
}

func testDelete(t *testing.T, newStore NewStoreFunc) {
	t.Run("WithAttempts", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.inState(kilntype.JobStateDiscarded)
		keep := f.inState(kilntype.JobStateDiscarded)
		got, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: job.ID})
		if err != nil {
			t.Fatal(err)
		}
		wantSameJob(t, got, job)
		if _, err := f.s.JobGet(f.ctx, &store.JobGetParams{ID: job.ID}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("JobGet after delete: error = %v, want ErrNotFound", err)
		}
		if as := f.attempts(job.ID); len(as) != 0 {
			t.Errorf("%d attempts left after delete", len(as))
		}
		if as := f.attempts(keep.ID); len(as) != 1 {
			t.Errorf("other job: %d attempts, want 1", len(as))
		}
	})

	for _, state := range []kilntype.JobState{kilntype.JobStateAvailable, kilntype.JobStateScheduled, kilntype.JobStatePending} {
		t.Run(string(state), func(t *testing.T) {
			f := newFixture(t, newStore)
			job := f.inState(state)
			got, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: job.ID})
			if err != nil {
				t.Fatal(err)
			}
			wantSameJob(t, got, job)
		})
	}

	t.Run("running", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.running()
		if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: job.ID}); !errors.Is(err, kilntype.ErrJobRunning) {
			t.Errorf("error = %v, want ErrJobRunning", err)
		}
		wantSameJob(t, f.get(job.ID), job)
	})

	t.Run("NotFound", func(t *testing.T) {
		f := newFixture(t, newStore)
		if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: 987654}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("error = %v, want ErrNotFound", err)
		}
	})

	t.Run("LateFinishAfterDelete", func(t *testing.T) {
		// A job rescued and deleted while its old process still ran it:
		// the late finish is a no-op and does not fail.
		f := newFixture(t, newStore)
		job := f.running()
		if _, err := f.s.JobRescueExpired(f.ctx, &store.JobRescueExpiredParams{Now: base.Add(2 * leaseTTL), Max: 10}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: job.ID}); err != nil {
			t.Fatal(err)
		}
		f.finish(finishParams(job, kilntype.JobStateCompleted, base.Add(3*leaseTTL)))
		if _, err := f.s.JobGet(f.ctx, &store.JobGetParams{ID: job.ID}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("JobGet: error = %v, want ErrNotFound", err)
		}
	})
}
