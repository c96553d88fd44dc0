package maintenance

import (
	"encoding/json"
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

// TestCleanerBulkRetention runs the cleaner task at moved times on both
// stores (and the fake store) and checks that it deletes the bulk
// operations that ended longer than BulkRetention ago, none when it is 0,
// and never an interrupted one, however old.
func TestCleanerBulkRetention(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, st store.Store, withJob bool) {
		ctx := t.Context()
		start := time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)
		now := start
		cleaner := func(retention time.Duration) *Task {
			s := New(Config{Store: st, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler),
				ScheduleInterval: time.Second, RescueInterval: time.Second, CleanInterval: time.Minute,
				CompletedRetention: time.Hour, CancelledRetention: time.Hour, DiscardedRetention: time.Hour,
				BulkRetention: retention})
			for i := range s.tasks {
				if s.tasks[i].Name == "cleaner" {
					return &s.tasks[i]
				}
			}
			t.Fatal("no cleaner task")
			return nil
		}
		// An interrupted operation, needing a job to run over (the fake
		// store runs over none).
		var interrupted *kilntype.BulkOperation
		if withJob {
			if _, err := st.JobInsertMany(ctx, []*store.JobInsertParams{{Kind: "k", Queue: "default", Args: json.RawMessage(`{}`),
				Priority: 1, MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: start.Add(time.Hour),
				CreatedAt: start}}); err != nil {
				t.Fatal(err)
			}
			op, err := st.BulkCreate(ctx, &store.BulkCreateParams{Action: kilntype.BulkRetry, Owner: "p", Now: start})
			if err != nil {
				t.Fatal(err)
			}
			if interrupted, err = st.BulkRelease(ctx, &store.BulkReleaseParams{ID: op.ID, Owner: "p",
				State: kilntype.BulkInterrupted, Now: start}); err != nil || interrupted.State != kilntype.BulkInterrupted {
				t.Fatalf("BulkRelease = %+v, %v", interrupted, err)
			}
		}
		// Three operations that end at once (cancelled, at a day apart,
		// when the store has a job; completed, over no job, otherwise).
		var ended []int64
		for i := range 3 {
			at := start.Add(time.Duration(i) * 24 * time.Hour)
			op, err := st.BulkCreate(ctx, &store.BulkCreateParams{Action: kilntype.BulkRetry, Owner: "p", Now: at})
			if err == nil && op.State == kilntype.BulkRunning {
				op, err = st.BulkCancel(ctx, &store.BulkCancelParams{ID: op.ID, Now: at, StaleBefore: at.Add(time.Hour)})
			}
			if err != nil || op.FinishedAt == nil || !op.FinishedAt.Equal(at) {
				t.Fatalf("operation %d: %+v, %v; want it ended at %v", i, op, err, at)
			}
			ended = append(ended, op.ID)
		}
		left := func() []int64 {
			t.Helper()
			ops, err := st.BulkList(ctx, &store.BulkListParams{})
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, op := range ops {
				if interrupted == nil || op.ID != interrupted.ID {
					ids = append(ids, op.ID)
				} else if op.State != kilntype.BulkInterrupted {
					t.Errorf("the interrupted operation is now %s", op.State)
				}
			}
			if interrupted != nil && len(ids) == len(ops) {
				t.Errorf("the interrupted operation was deleted")
			}
			return ids
		}
		pass := func(task *Task, at time.Duration, want int) {
			t.Helper()
			now = start.Add(at)
			if _, err := task.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if ids := left(); len(ids) != want {
				t.Errorf("at +%v: operations %v left, want the %d newest of %v", at, ids, want, ended)
			} else if want > 0 && ids[len(ids)-1] != ended[len(ended)-want] {
				t.Errorf("at +%v: operations %v left, want the %d newest of %v", at, ids, want, ended)
			}
		}
		keep7 := cleaner(7 * 24 * time.Hour)
		pass(keep7, 7*24*time.Hour, 3)                  // the first ended exactly 7 days ago: kept
		pass(keep7, 7*24*time.Hour+time.Microsecond, 2) // then it is older
		pass(cleaner(0), 100*24*time.Hour, 2)           // 0: kept forever
		pass(keep7, 9*24*time.Hour+time.Second, 0)
	}
	t.Run("Fake", func(t *testing.T) {
		t.Parallel()
		run(t, fakeCleanable{enginetest.NewStore()}, false)
	})
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		run(t, st, true)
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		st, err := postgres.Open(t.Context(), pgtest.URL(t), &postgres.Options{Schema: pgtest.Schema(t), MaxConns: 4,
			Migrate: true, CallerClock: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		run(t, st, true)
	})
}
