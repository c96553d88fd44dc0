package maintenance

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// TestCleanerRetentionRules runs the cleaner task at moved times on both
// stores with Config rules per kind and a rule per queue set at run time
// in the store, and checks which jobs each pass deletes.
func TestCleanerRetentionRules(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, st store.Store) {
		ctx := t.Context()
		start := time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)
		now := start
		s := New(Config{Store: st, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler),
			ScheduleInterval: time.Second, RescueInterval: time.Second, CleanInterval: time.Minute,
			CompletedRetention: 24 * time.Hour, CancelledRetention: 24 * time.Hour, DiscardedRetention: 7 * 24 * time.Hour,
			Retention: []kilntype.RetentionRule{
				{State: kilntype.JobStateCompleted, Kind: "email", Keep: time.Hour},
				{State: kilntype.JobStateDiscarded, Kind: "invoice", Keep: kilntype.KeepForever},
			}})
		var clean *Task
		for i := range s.tasks {
			if s.tasks[i].Name == "cleaner" {
				clean = &s.tasks[i]
			}
		}
		if clean == nil {
			t.Fatal("no cleaner task")
		}
		if err := st.RetentionSet(ctx, &store.RetentionSetParams{Now: start,
			Rule: kilntype.RetentionRule{State: kilntype.JobStateCompleted, Queue: "slow", Keep: 2 * time.Hour}}); err != nil {
			t.Fatal(err)
		}
		email := finishJob(t, st, "email", "q", kilntype.JobStateCompleted, start)
		report := finishJob(t, st, "report", "q", kilntype.JobStateCompleted, start)
		slow := finishJob(t, st, "report", "slow", kilntype.JobStateCompleted, start)
		failed := finishJob(t, st, "report", "q", kilntype.JobStateDiscarded, start)
		invoice := finishJob(t, st, "invoice", "q", kilntype.JobStateDiscarded, start)

		pass := func(at time.Duration, gone, kept []int64) {
			t.Helper()
			now = start.Add(at)
			if _, err := clean.Run(ctx); err != nil {
				t.Fatal(err)
			}
			for _, id := range gone {
				if _, err := st.JobGet(ctx, &store.JobGetParams{ID: id}); err == nil {
					t.Errorf("at +%v: job %d kept, want deleted", at, id)
				}
			}
			for _, id := range kept {
				if _, err := st.JobGet(ctx, &store.JobGetParams{ID: id}); err != nil {
					t.Errorf("at +%v: job %d: %v, want kept", at, id, err)
				}
			}
		}
		pass(59*time.Minute, nil, []int64{email, report, slow, failed, invoice})
		pass(61*time.Minute, []int64{email}, []int64{report, slow, failed, invoice})
		pass(121*time.Minute, []int64{slow}, []int64{report, failed, invoice})
		pass(25*time.Hour, []int64{report}, []int64{failed, invoice})
		pass(8*24*time.Hour, []int64{failed}, []int64{invoice})

		// The stored rule for the whole state replaces the Config's.
		if err := st.RetentionSet(ctx, &store.RetentionSetParams{Now: now,
			Rule: kilntype.RetentionRule{State: kilntype.JobStateDiscarded, Kind: "invoice", Keep: 30 * 24 * time.Hour}}); err != nil {
			t.Fatal(err)
		}
		pass(31*24*time.Hour, []int64{invoice}, nil)
	}
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

// finishJob inserts a job of kind in queue, claims it and finishes it in
// state at at, and returns its ID.
func finishJob(t *testing.T, st store.Store, kind, queue string, state kilntype.JobState, at time.Time) int64 {
	t.Helper()
	ctx := t.Context()
	if _, err := st.JobInsertMany(ctx, []*store.JobInsertParams{{Kind: kind, Queue: queue, Args: json.RawMessage(`{}`),
		Priority: 1, MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: at, CreatedAt: at}}); err != nil {
		t.Fatal(err)
	}
	jobs, err := st.JobClaim(ctx, &store.JobClaimParams{Queue: queue, Max: 1, AnyKind: true, LeasedBy: "p",
		LeaseExpiresAt: at.Add(time.Minute), Now: at})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %d jobs, %v", len(jobs), err)
	}
	outcome := kilntype.AttemptSucceeded
	if state != kilntype.JobStateCompleted {
		outcome = kilntype.AttemptFailed
	}
	if _, err := st.JobFinishMany(ctx, []*store.JobFinishParams{{ID: jobs[0].ID, LeasedBy: "p", AttemptedAt: at,
		State: state, Now: at, Attempt: kilntype.JobAttempt{JobID: jobs[0].ID, Attempt: 1,
			StartedAt: at, FinishedAt: &at, Server: "p", Outcome: outcome}}}); err != nil {
		t.Fatal(err)
	}
	return jobs[0].ID
}
