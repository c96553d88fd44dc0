package sqlite_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// TestRecurringEnqueueAcrossStores races the schedulers of two processes
// (two Stores on one file, four goroutines each) on the same occurrences of
// one entry, with and without overlap checks, and checks that each
// occurrence enqueued exactly one job.
func TestRecurringEnqueueAcrossStores(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "kiln.db")
	a := open(t, path, &sqlite.Options{Migrate: true})
	b := open(t, path, &sqlite.Options{Migrate: true})

	const (
		goroutines  = 8
		occurrences = 50
	)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	entry := &kilntype.RecurringRow{ID: "race", Schedule: "* * * * *", Kind: "noop", Args: []byte(`{}`),
		Queue: "default", Priority: 1, MaxAttempts: 1, Overlap: kilntype.OverlapAllow,
		Misfire: kilntype.MisfireRunAll, MisfireMax: 100, NextRunAt: at(0), CreatedAt: base, UpdatedAt: base}
	if _, _, err := a.RecurringUpsert(ctx, &store.RecurringUpsertParams{Row: entry, Now: base}); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		inserted = map[int64]int64{} // occurrence µs -> job ID
		wg       sync.WaitGroup
		errs     = make(chan error, goroutines*occurrences)
	)
	for g := range goroutines {
		s := a
		if g%2 == 1 {
			s = b
		}
		wg.Go(func() {
			// Occurrences in batches of 5, in an order of the goroutine's
			// own, so that the batches of the two Stores overlap.
			for start := 0; start < occurrences; start += 5 {
				p := &store.RecurringEnqueueParams{ID: "race", Overlap: kilntype.OverlapAllow,
					PrevNextRunAt: at(0), NextRunAt: at(occurrences), Now: base}
				for i := start; i < start+5; i++ {
					occ := at((i + g*13) % occurrences)
					p.Occurrences = append(p.Occurrences, store.RecurringOccurrenceInsert{At: occ,
						Job: &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{}`),
							Priority: 1, MaxAttempts: 1, State: kilntype.JobStateAvailable,
							ScheduledAt: base, CreatedAt: base}})
				}
				res, err := s.RecurringEnqueue(ctx, p)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, r := range res {
					switch {
					case r.Job != nil:
						if id, dup := inserted[r.At.UnixMicro()]; dup {
							errs <- fmt.Errorf("occurrence %v enqueued twice: jobs %d and %d", r.At, id, r.Job.ID)
						}
						inserted[r.At.UnixMicro()] = r.Job.ID
					case r.Skipped != "duplicate":
						errs <- fmt.Errorf("occurrence %v skipped as %q", r.At, r.Skipped)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(inserted) != occurrences {
		t.Errorf("%d occurrences enqueued, want %d", len(inserted), occurrences)
	}
	jobs, err := b.JobList(ctx, &store.JobListParams{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != occurrences {
		t.Errorf("%d jobs, want %d", len(jobs), occurrences)
	}
	occs, err := b.RecurringOccurrenceList(ctx, "race", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(occs) != occurrences {
		t.Errorf("%d occurrences listed, want %d", len(occs), occurrences)
	}
	row, err := a.RecurringGet(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	if !row.NextRunAt.Equal(at(occurrences)) {
		t.Errorf("NextRunAt = %v, want %v", row.NextRunAt, at(occurrences))
	}
}

// TestRecurringOccurrenceOutlivesJob checks that the cleaner deletes old
// jobs of recurring entries without touching their occurrence rows, and
// that deleting an entry deletes its occurrence rows and no job.
func TestRecurringOccurrenceOutlivesJob(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
	entry := &kilntype.RecurringRow{ID: "e", Schedule: "* * * * *", Kind: "noop", Args: []byte(`{}`),
		Queue: "q", Priority: 1, MaxAttempts: 1, Overlap: kilntype.OverlapSkip,
		Misfire: kilntype.MisfireRunOnce, MisfireMax: 1, NextRunAt: base, CreatedAt: base, UpdatedAt: base}
	if _, _, err := s.RecurringUpsert(ctx, &store.RecurringUpsertParams{Row: entry, Now: base}); err != nil {
		t.Fatal(err)
	}
	job := &store.JobInsertParams{Kind: "noop", Queue: "q", Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
		State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}
	res, err := s.RecurringEnqueue(ctx, &store.RecurringEnqueueParams{ID: "e", Overlap: kilntype.OverlapSkip,
		Occurrences: []store.RecurringOccurrenceInsert{{At: base, Job: job}}, Now: base})
	if err != nil || res[0].Job == nil {
		t.Fatalf("RecurringEnqueue = %+v, %v", res, err)
	}
	if _, err := s.JobCancel(ctx, &store.JobCancelParams{ID: res[0].Job.ID, Now: base}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.JobDeleteFinished(ctx, &store.JobDeleteFinishedParams{
		CancelledBefore: base.Add(time.Hour), Max: 10}); err != nil || n != 1 {
		t.Fatalf("JobDeleteFinished = %d, %v; want 1, nil", n, err)
	}
	occs, err := s.RecurringOccurrenceList(ctx, "e", 10)
	if err != nil || len(occs) != 1 || occs[0].JobState != "" {
		t.Fatalf("occurrences after cleaning = %+v, %v; want one with no job", occs, err)
	}

	res, err = s.RecurringEnqueue(ctx, &store.RecurringEnqueueParams{ID: "e", Overlap: kilntype.OverlapSkip,
		Occurrences: []store.RecurringOccurrenceInsert{{At: base.Add(time.Minute), Job: job}}, Now: base})
	if err != nil || res[0].Job == nil {
		t.Fatalf("RecurringEnqueue after cleaning = %+v, %v", res, err)
	}
	if _, err := s.RecurringDelete(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobGet(ctx, res[0].Job.ID); err != nil {
		t.Errorf("job of a deleted entry: %v", err)
	}
	// No occurrence row is left behind for a new entry with the same ID.
	if _, _, err := s.RecurringUpsert(ctx, &store.RecurringUpsertParams{Row: entry, Now: base}); err != nil {
		t.Fatal(err)
	}
	if occs, err := s.RecurringOccurrenceList(ctx, "e", 10); err != nil || len(occs) != 0 {
		t.Errorf("occurrences of the new entry = %+v, %v; want none", occs, err)
	}
}

// TestRecurringBeforeMigrate checks that the recurring methods on a
// database without the recurring tables fail with ErrSchemaMissing.
func TestRecurringBeforeMigrate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "kiln.db"), nil)
	if _, err := s.RecurringGet(ctx, "e"); !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Errorf("RecurringGet before Migrate: %v, want ErrSchemaMissing", err)
	}
	if _, _, err := s.RecurringNextDue(ctx); !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Errorf("RecurringNextDue before Migrate: %v, want ErrSchemaMissing", err)
	}
	if _, err := s.RecurringEnqueue(ctx, &store.RecurringEnqueueParams{ID: "e", Now: base}); !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Errorf("RecurringEnqueue before Migrate: %v, want ErrSchemaMissing", err)
	}
}
