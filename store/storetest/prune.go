package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func testPrune(t *testing.T, newStore NewStoreFunc) {
	t.Run("OccurrencesOfGoneJobsButNotTheNewest", func(t *testing.T) {
		f := newFixture(t, newStore)
		var p store.PruneStore = f.s
		f.recurring("e")
		f.recurring("lone")
		f.recurringJobIn("e", minutes(1), jobDeleted)                         // old, job gone: pruned
		f.recurringJobIn("e", minutes(2), jobDeleted)                         // old, job gone: pruned
		kept := f.recurringJobIn("e", minutes(3), kilntype.JobStateCompleted) // job still stored
		f.recurringJobIn("e", minutes(4), jobDeleted)                         // old, job gone: pruned
		f.recurringJobIn("e", minutes(30), jobDeleted)                        // after the cut-off; the newest
		f.recurringJobIn("lone", minutes(1), jobDeleted)                      // its entry's newest: kept

		n, err := p.RecurringOccurrenceDeleteOld(f.ctx, &store.RecurringOccurrenceDeleteOldParams{Before: minutes(10), Max: 1})
		if err != nil || n != 1 {
			t.Fatalf("with max 1: deleted %d, %v; want 1", n, err)
		}
		n, err = p.RecurringOccurrenceDeleteOld(f.ctx, &store.RecurringOccurrenceDeleteOldParams{Before: minutes(10), Max: 100})
		if err != nil || n != 2 {
			t.Fatalf("deleted %d, %v; want 2 more", n, err)
		}
		occs := f.occurrences("e", 0)
		if len(occs) != 2 || !occs[0].At.Equal(minutes(30)) || occs[1].JobID != kept.ID {
			t.Fatalf("left %+v; want minutes 30 and 3", occs)
		}
		if occs := f.occurrences("lone", 0); len(occs) != 1 {
			t.Fatalf("the lone entry's newest occurrence was deleted: %+v", occs)
		}
		if n, err := p.RecurringOccurrenceDeleteOld(f.ctx, &store.RecurringOccurrenceDeleteOldParams{Before: minutes(10), Max: 100}); err != nil || n != 0 {
			t.Fatalf("a second pass deleted %d, %v; want 0", n, err)
		}
	})

	t.Run("BatchesWhoseJobsAreGone", func(t *testing.T) {
		f := newFixture(t, newStore)
		var p store.PruneStore = f.s
		d := f.dependencies()
		inBatch := func(id string) jobMod { return func(p *store.JobInsertParams) { p.BatchID = id } }
		gone := f.insertMany(params(inBatch("gone")), params(inBatch("gone")))
		live := f.insertMany(params(inBatch("live")), params(inBatch("live")))
		for _, r := range append(gone, live[0]) {
			if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: r.Job.ID}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := p.BatchDeleteOld(f.ctx, &store.BatchDeleteOldParams{Before: base, Max: 100}); err != nil || n != 0 {
			t.Fatalf("with the cut-off at their creation: deleted %d, %v; want 0", n, err)
		}
		if n, err := p.BatchDeleteOld(f.ctx, &store.BatchDeleteOldParams{Before: base.Add(time.Hour), Max: 100}); err != nil || n != 1 {
			t.Fatalf("deleted %d, %v; want 1 (the batch whose jobs are all gone)", n, err)
		}
		if _, err := d.BatchGet(f.ctx, &store.BatchGetParams{ID: "gone"}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Fatalf("BatchGet(gone) = %v; want ErrNotFound", err)
		}
		if _, err := d.BatchGet(f.ctx, &store.BatchGetParams{ID: "live"}); err != nil {
			t.Fatalf("BatchGet(live): %v", err)
		}
	})

	// JobVacuum never changes a job: whether the store vacuums (PostgreSQL,
	// when its conditions hold) or has nothing to vacuum (SQLite), the jobs
	// and the counters are as before, and its counts are never negative.
	t.Run("VacuumKeepsJobs", func(t *testing.T) {
		f := newFixture(t, newStore)
		var p store.PruneStore = f.s
		kept := []*kilntype.JobRow{f.inState(kilntype.JobStateCompleted), f.inState(kilntype.JobStateRunning),
			f.inState(kilntype.JobStateAvailable)}
		for _, minDead := range []int64{1, 1 << 40} {
			r, err := p.JobVacuum(f.ctx, &store.JobVacuumParams{MinDead: minDead})
			if err != nil || r.Dead < 0 || r.Live < 0 || r.Available < 0 {
				t.Fatalf("JobVacuum with MinDead %d: %+v, %v", minDead, r, err)
			}
			if minDead > 1 && r.Vacuumed {
				t.Errorf("JobVacuum vacuumed with %d dead rows, below MinDead %d", r.Dead, minDead)
			}
		}
		for _, job := range kept {
			if got := f.get(job.ID); got.State != job.State || got.Attempt != job.Attempt {
				t.Errorf("job %d after JobVacuum: %s, attempt %d; want %s, attempt %d", job.ID, got.State, got.Attempt, job.State, job.Attempt)
			}
		}
	})
}
