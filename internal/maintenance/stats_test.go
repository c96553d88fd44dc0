package maintenance

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStatsFolder runs the stats task that New builds for a store with
// counters, at two times a week apart, and checks that each pass records
// the attempts that ended before it in its minute and deletes the history
// older than HistoryRetention.
func TestStatsFolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	first := time.Date(2030, 1, 10, 12, 0, 30, 0, time.UTC)
	now := first
	s := New(Config{Store: st, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler),
		ScheduleInterval: time.Second, RescueInterval: time.Second, CleanInterval: time.Minute,
		CompletedRetention: time.Hour, CancelledRetention: time.Hour, DiscardedRetention: time.Hour})
	var task *Task
	for i := range s.tasks {
		if s.tasks[i].Name == "stats" {
			task = &s.tasks[i]
		}
	}
	if task == nil {
		t.Fatal("New built no stats task for a store.StatsStore")
	}
	// Hours of the 8 days from the first pass.
	history := func() []store.HistoryPoint {
		t.Helper()
		points, err := st.JobHistory(ctx, &store.JobHistoryParams{From: first.Add(-time.Hour), To: now.Add(time.Hour),
			Bucket: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return points
	}

	complete(t, st, now)
	if _, err := task.Run(ctx); err != nil {
		t.Fatal(err)
	}
	want := store.HistoryPoint{At: first.Truncate(time.Hour), Completed: 1}
	if got := history(); len(got) != 1 || got[0] != want {
		t.Fatalf("history after the first pass = %+v, want [%+v]", got, want)
	}

	now = now.Add(HistoryRetention + time.Minute)
	complete(t, st, now)
	if _, err := task.Run(ctx); err != nil {
		t.Fatal(err)
	}
	want = store.HistoryPoint{At: now.Truncate(time.Hour), Completed: 1}
	if got := history(); len(got) != 1 || got[0] != want {
		t.Errorf("history a week later = %+v, want only [%+v]", got, want)
	}
}

// complete inserts a job, claims it and completes it at at.
func complete(t *testing.T, st store.Store, at time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.JobInsertMany(ctx, []*store.JobInsertParams{{Kind: "k", Queue: "q", Args: json.RawMessage(`{}`),
		Priority: 1, MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: at, CreatedAt: at}}); err != nil {
		t.Fatal(err)
	}
	jobs, err := st.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: 1, AnyKind: true, LeasedBy: "p", LeaseExpiresAt: at.Add(time.Minute), Now: at})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	if _, err := st.JobFinishMany(ctx, []*store.JobFinishParams{{ID: jobs[0].ID, LeasedBy: "p", AttemptedAt: at,
		State: kilntype.JobStateCompleted, Now: at, Attempt: kilntype.JobAttempt{JobID: jobs[0].ID, Attempt: 1,
			StartedAt: at, FinishedAt: &at, Server: "p", Outcome: kilntype.AttemptSucceeded}}}); err != nil {
		t.Fatal(err)
	}
}
