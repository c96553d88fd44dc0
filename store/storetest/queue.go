package storetest

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// queues returns the store's QueueStore.
func (f *fixture) queues() store.QueueStore { return f.s }

// pause runs QueuePause and fails the test on error.
func pause(f *fixture, q store.QueueStore, name string, paused bool, now time.Time) {
	f.t.Helper()
	if err := q.QueuePause(f.ctx, &store.QueuePauseParams{Name: name, Paused: paused, Now: now}); err != nil {
		f.t.Fatalf("QueuePause(%q, %v): %v", name, paused, err)
	}
}

// listQueues runs QueueList, fails the test on error, and returns the rows
// by name, checking that they are sorted by name.
func listQueues(f *fixture, q store.QueueStore) map[string]*store.QueueRow {
	f.t.Helper()
	rows, err := q.QueueList(f.ctx)
	if err != nil {
		f.t.Fatalf("QueueList: %v", err)
	}
	out := make(map[string]*store.QueueRow, len(rows))
	for i, r := range rows {
		if i > 0 && rows[i-1].Name >= r.Name {
			f.t.Errorf("QueueList: %q listed after %q", r.Name, rows[i-1].Name)
		}
		out[r.Name] = r
	}
	return out
}

func testQueues(t *testing.T, newStore NewStoreFunc) {
	t.Run("PauseStopsClaimsOfThatQueueOnly", func(t *testing.T) {
		f := newFixture(t, newStore)
		q := f.queues()
		// Every kind of due job: available, scheduled and retryable ones.
		retry := f.retryable(base.Add(-time.Minute), queue("a"))
		a := []int64{retry.ID, f.insert(queue("a"), scheduled(base.Add(-time.Second))).ID}
		a = append(a, ids(f.insertN(3, queue("a")))...)
		b := f.insertN(2, queue("b"))

		pause(f, q, "a", true, base)
		if got := f.claim(claimParams("a", 10, base)); len(got) != 0 {
			t.Errorf("claimed %v from a paused queue", ids(got))
		}
		// A claim with kind limits goes through rounds: none claims either.
		limited := claimParams("a", 10, base)
		limited.KindLimits = map[string]int{"noop": 2}
		if got := f.claim(limited); len(got) != 0 {
			t.Errorf("claimed %v with kind limits from a paused queue", ids(got))
		}
		wantIDs(t, "claimed from the queue not paused", ids(f.claim(claimParams("b", 10, base))), ids(b))
		// Inserting into a paused queue works; the job waits.
		late := f.insert(queue("a"))
		a = append(a, late.ID)
		wantState(t, f.get(late.ID), kilntype.JobStateAvailable)
		if got := f.claim(claimParams("a", 10, base)); len(got) != 0 {
			t.Errorf("claimed %v from a paused queue after an insert", ids(got))
		}

		pause(f, q, "a", false, base.Add(time.Second))
		wantIDSet(t, "claimed after resume", ids(f.claim(claimParams("a", 10, base))), a)
	})

	t.Run("RunningJobsFinish", func(t *testing.T) {
		f := newFixture(t, newStore)
		q := f.queues()
		job := f.running(queue("a"))
		pause(f, q, "a", true, base)
		wantApplied(t, f.finish(finishParams(job, kilntype.JobStateCompleted, base.Add(time.Second))), job.ID)
		wantState(t, f.get(job.ID), kilntype.JobStateCompleted)
		// A job of the paused queue can still be retried; it waits.
		retried, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: job.ID, Now: base.Add(2 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		wantState(t, retried, kilntype.JobStateAvailable)
		if got := f.claim(claimParams("a", 10, base.Add(time.Hour))); len(got) != 0 {
			t.Errorf("claimed %v from a paused queue", ids(got))
		}
	})

	t.Run("PauseAndResumeTwice", func(t *testing.T) {
		f := newFixture(t, newStore)
		q := f.queues()
		job := f.insert(queue("a"))
		// Resuming a queue that was never paused does nothing.
		pause(f, q, "a", false, base)
		pause(f, q, "never-paused", false, base)
		rows := listQueues(f, q)
		if _, ok := rows["never-paused"]; ok {
			t.Error("resuming a queue without jobs that was never paused listed it")
		}
		if row := rows["a"]; row == nil || row.Paused || row.UpdatedAt != nil {
			t.Errorf("queue a resumed without a pause: %+v, want not paused, no UpdatedAt", row)
		}

		pause(f, q, "a", true, base.Add(time.Second))
		pause(f, q, "a", true, base.Add(2*time.Second)) // keeps the first pause's time
		row := listQueues(f, q)["a"]
		if row == nil || !row.Paused {
			t.Fatalf("queue a after two pauses: %+v", row)
		}
		wantTimePtr(t, "UpdatedAt after two pauses", row.UpdatedAt, ptr(base.Add(time.Second)))
		if got := f.claim(claimParams("a", 10, base)); len(got) != 0 {
			t.Errorf("claimed %v from a queue paused twice", ids(got))
		}

		pause(f, q, "a", false, base.Add(3*time.Second))
		pause(f, q, "a", false, base.Add(4*time.Second))
		row = listQueues(f, q)["a"]
		if row == nil || row.Paused {
			t.Fatalf("queue a after two resumes: %+v", row)
		}
		wantTimePtr(t, "UpdatedAt after two resumes", row.UpdatedAt, ptr(base.Add(3*time.Second)))
		wantIDs(t, "claimed after two resumes", ids(f.claim(claimParams("a", 10, base))), []int64{job.ID})
	})

	t.Run("List", func(t *testing.T) {
		f := newFixture(t, newStore)
		q := f.queues()
		if rows := listQueues(f, q); len(rows) != 0 {
			t.Errorf("QueueList of an empty store: %v", rows)
		}
		// Queue "a": running and retryable jobs first (they are claimed
		// from "a", which must hold nothing else due then).
		f.inState(kilntype.JobStateRunning, queue("a"))
		f.inState(kilntype.JobStateRunning, queue("a"))
		f.inState(kilntype.JobStateCompleted, queue("a"))
		f.inState(kilntype.JobStateDiscarded, queue("a"))
		f.retryable(base.Add(-time.Minute), queue("a")) // due, still retryable
		f.insert(queue("a"), scheduledAt(base.Add(-time.Hour)), priority(4))
		f.insert(queue("a"), scheduledAt(base.Add(-time.Minute)), priority(1))
		f.insert(queue("a"))
		f.insert(queue("a"), scheduled(base.Add(time.Hour)))
		f.insert(queue("a"), scheduled(base.Add(-time.Second))) // due, still scheduled
		f.insert(queue("a"), pending())
		// Queue "b" has scheduled jobs only; "c" finished jobs only (not
		// listed); "d" no job but a pause; "e" a pending job only (not
		// listed).
		f.insert(queue("b"), scheduled(base.Add(time.Hour)))
		f.inState(kilntype.JobStateCancelled, queue("c"))
		f.insert(queue("e"), pending())
		pause(f, q, "d", true, base.Add(time.Minute))
		pause(f, q, "a", true, base.Add(2*time.Minute))

		rows := listQueues(f, q)
		if _, ok := rows["c"]; ok {
			t.Error("a queue with finished jobs only is listed")
		}
		if _, ok := rows["e"]; ok {
			t.Error("a queue with pending jobs only is listed")
		}
		for _, w := range []store.QueueRow{
			{Name: "a", Paused: true, UpdatedAt: ptr(base.Add(2 * time.Minute)),
				Available: 3, Scheduled: 2, Running: 2, Retryable: 1, OldestAvailableAt: ptr(base.Add(-time.Hour))},
			{Name: "b", Scheduled: 1},
			{Name: "d", Paused: true, UpdatedAt: ptr(base.Add(time.Minute))},
		} {
			got := rows[w.Name]
			if got == nil {
				t.Errorf("queue %q is not listed", w.Name)
				continue
			}
			if got.Paused != w.Paused || got.Available != w.Available || got.Scheduled != w.Scheduled ||
				got.Running != w.Running || got.Retryable != w.Retryable {
				t.Errorf("queue %q: paused %v, available %d, scheduled %d, running %d, retryable %d; want %v, %d, %d, %d, %d",
					w.Name, got.Paused, got.Available, got.Scheduled, got.Running, got.Retryable,
					w.Paused, w.Available, w.Scheduled, w.Running, w.Retryable)
			}
			wantTimePtr(t, w.Name+" UpdatedAt", got.UpdatedAt, w.UpdatedAt)
			wantTimePtr(t, w.Name+" OldestAvailableAt", got.OldestAvailableAt, w.OldestAvailableAt)
		}
		if len(rows) != 3 {
			t.Errorf("QueueList listed %d queues, want a, b and d", len(rows))
		}

		// Resumed, a queue stays listed (with its resume time) even once it
		// has no jobs.
		pause(f, q, "d", false, base.Add(3*time.Minute))
		d := listQueues(f, q)["d"]
		if d == nil || d.Paused {
			t.Fatalf("queue d after resume: %+v", d)
		}
		wantTimePtr(t, "d UpdatedAt after resume", d.UpdatedAt, ptr(base.Add(3*time.Minute)))
	})
}
