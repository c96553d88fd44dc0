package sqlite_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

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
	occs, err := s.RecurringOccurrenceList(ctx, &store.RecurringOccurrenceListParams{ID: "e", Limit: 10})
	if err != nil || len(occs) != 1 || occs[0].JobState != "" {
		t.Fatalf("occurrences after cleaning = %+v, %v; want one with no job", occs, err)
	}

	res, err = s.RecurringEnqueue(ctx, &store.RecurringEnqueueParams{ID: "e", Overlap: kilntype.OverlapSkip,
		Occurrences: []store.RecurringOccurrenceInsert{{At: base.Add(time.Minute), Job: job}}, Now: base})
	if err != nil || res[0].Job == nil {
		t.Fatalf("RecurringEnqueue after cleaning = %+v, %v", res, err)
	}
	if _, err := s.RecurringDelete(ctx, &store.RecurringDeleteParams{ID: "e"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobGet(ctx, &store.JobGetParams{ID: res[0].Job.ID}); err != nil {
		t.Errorf("job of a deleted entry: %v", err)
	}
	// No occurrence row is left behind for a new entry with the same ID.
	if _, _, err := s.RecurringUpsert(ctx, &store.RecurringUpsertParams{Row: entry, Now: base}); err != nil {
		t.Fatal(err)
	}
	if occs, err := s.RecurringOccurrenceList(ctx, &store.RecurringOccurrenceListParams{ID: "e", Limit: 10}); err != nil || len(occs) != 0 {
		t.Errorf("occurrences of the new entry = %+v, %v; want none", occs, err)
	}
}

// TestRecurringBeforeMigrate checks that the recurring methods on a
// database without the recurring tables fail with ErrSchemaMissing.
func TestRecurringBeforeMigrate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "kiln.db"), nil)
	if _, err := s.RecurringGet(ctx, &store.RecurringGetParams{ID: "e"}); !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Errorf("RecurringGet before Migrate: %v, want ErrSchemaMissing", err)
	}
	if _, _, err := s.RecurringNextDue(ctx); !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Errorf("RecurringNextDue before Migrate: %v, want ErrSchemaMissing", err)
	}
	if _, err := s.RecurringEnqueue(ctx, &store.RecurringEnqueueParams{ID: "e", Now: base}); !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Errorf("RecurringEnqueue before Migrate: %v, want ErrSchemaMissing", err)
	}
}
