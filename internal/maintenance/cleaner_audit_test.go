package maintenance

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// TestCleanerAuditRetention runs the cleaner task at moved times on both
// stores (and the fake store) and checks that it deletes the audit
// entries older than AuditRetention, and none when it is 0.
func TestCleanerAuditRetention(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, st store.Store) {
		ctx := t.Context()
		start := time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)
		now := start
		cleaner := func(retention time.Duration) *Task {
			s := New(Config{Store: st, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler),
				ScheduleInterval: time.Second, RescueInterval: time.Second, CleanInterval: time.Minute,
				CompletedRetention: time.Hour, CancelledRetention: time.Hour, DiscardedRetention: time.Hour,
				AuditRetention: retention})
			for i := range s.tasks {
				if s.tasks[i].Name == "cleaner" {
					return &s.tasks[i]
				}
			}
			t.Fatal("no cleaner task")
			return nil
		}
		for i := range 3 {
			if _, err := st.AuditInsert(ctx, &store.AuditInsertParams{Entry: &kilntype.AuditEntry{
				At: start.Add(time.Duration(i) * 24 * time.Hour), Actor: "ops", Action: "job.retry"}}); err != nil {
				t.Fatal(err)
			}
		}
		left := func() int {
			t.Helper()
			got, err := st.AuditList(ctx, &store.AuditListParams{})
			if err != nil {
				t.Fatal(err)
			}
			return len(got)
		}
		pass := func(task *Task, at time.Duration, want int) {
			t.Helper()
			now = start.Add(at)
			if _, err := task.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if n := left(); n != want {
				t.Errorf("at +%v: %d entries left, want %d", at, n, want)
			}
		}
		keep90 := cleaner(90 * 24 * time.Hour)
		pass(keep90, 90*24*time.Hour, 3)                  // the first is exactly 90 days old: kept
		pass(keep90, 90*24*time.Hour+time.Microsecond, 2) // then it is older
		pass(cleaner(0), 200*24*time.Hour, 2)             // 0: kept forever
		pass(keep90, 92*24*time.Hour+time.Second, 0)
	}
	t.Run("Fake", func(t *testing.T) {
		t.Parallel()
		run(t, fakeCleanable{enginetest.NewStore()})
	})
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		run(t, st)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		st, err := postgres.Open(t.Context(), pgtest.URL(t), &postgres.Options{Schema: pgtest.Schema(t), MaxConns: 4,
			Migrate: true, CallerClock: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		run(t, st)
	})
}

// fakeCleanable is enginetest's fake store with the cleaner's job methods
// answering "nothing to delete", so that the cleaner reaches its audit
// entries.
type fakeCleanable struct{ *enginetest.Store }

func (fakeCleanable) RetentionList(context.Context) ([]*kilntype.RetentionRule, error) {
	return nil, nil
}
func (fakeCleanable) JobDeleteFinished(context.Context, *store.JobDeleteFinishedParams) (int, error) {
	return 0, nil
}
func (fakeCleanable) RecurringOccurrenceDeleteOld(context.Context, *store.RecurringOccurrenceDeleteOldParams) (int, error) {
	return 0, nil
}
func (fakeCleanable) BatchDeleteOld(context.Context, *store.BatchDeleteOldParams) (int, error) {
	return 0, nil
}
