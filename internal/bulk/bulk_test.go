package bulk_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/internal/bulk"
	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// seed returns a migrated SQLite store holding n available jobs.
func seed(t *testing.T, n int) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ps := make([]*store.JobInsertParams, n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{Kind: "k", Queue: "default", Args: json.RawMessage(`{}`), Priority: 1,
			MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}
	}
	if _, err := st.JobInsertMany(t.Context(), ps); err != nil {
		t.Fatal(err)
	}
	return st
}

func settings(st store.BulkStore, owner string, onBatch func(*store.BulkBatchResult)) bulk.Settings {
	return bulk.Settings{Store: st, Owner: owner, Now: func() time.Time { return base }, BatchSize: 3, Window: 1000,
		Pause: -1, OnBatch: onBatch, Logger: slog.New(slog.DiscardHandler)}
}

// TestStopInterruptsAndResumeFinishes stops a runner after its first
// batch: the operation is left interrupted where it stopped, and another
// process's runner resumes it to the end; each batch changes at most
// BatchSize jobs.
func TestStopInterruptsAndResumeFinishes(t *testing.T) {
	ctx := context.Background()
	st := seed(t, 100)
	op, err := st.BulkCreate(ctx, &store.BulkCreateParams{Action: kilntype.BulkCancel, Owner: "a", Now: base})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan struct{}, 1)
	release := make(chan struct{})
	r := bulk.New(settings(st, "a", func(res *store.BulkBatchResult) {
		if res.Op.Batches == 1 {
			first <- struct{}{}
			<-release // hold the goroutine until Stop has cancelled it
		}
	}))
	if err := r.Run(op.ID); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, first, "the first batch", func(struct{}) bool { return true })
	stopped := make(chan struct{}, 1)
	go func() { r.Stop(); stopped <- struct{}{} }()
	testutil.Eventually(t, "Stop to refuse new operations", r.Stopped)
	close(release)
	testutil.Receive(t, stopped, "Stop to return", func(struct{}) bool { return true })
	if err := r.Run(op.ID); err == nil {
		t.Error("Run after Stop: no error")
	}
	got, err := st.BulkGet(ctx, &store.BulkGetParams{ID: op.ID})
	if err != nil || got.State != kilntype.BulkInterrupted || got.Changed != 3 {
		t.Fatalf("after Stop: %+v, %v; want interrupted after one batch of 3", got, err)
	}
	got, err = st.BulkResume(ctx, &store.BulkResumeParams{ID: op.ID, Owner: "b", Now: base, StaleBefore: base.Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	r2 := bulk.New(settings(st, "b", func(res *store.BulkBatchResult) {
		if res.Op.Matched-res.Op.Changed != 0 || len(res.CancelRequested) > 0 {
			t.Errorf("batch %+v", res.Op)
		}
	}))
	defer r2.Stop()
	if err := r2.Run(got.ID); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyNil(t, "the resumed operation to complete", func() error {
		got, err = st.BulkGet(ctx, &store.BulkGetParams{ID: op.ID})
		if err == nil && got.State != kilntype.BulkCompleted {
			return errState(got.State)
		}
		return err
	})
	if got.Changed != 100 || got.Batches != 34 {
		t.Errorf("completed: changed %d in %d batches, want 100 in 34 (3 a batch)", got.Changed, got.Batches)
	}
}

// TestDeletedOperationEnds: the goroutine of an unknown operation ends.
func TestDeletedOperationEnds(t *testing.T) {
	st := seed(t, 1)
	r := bulk.New(settings(st, "a", nil))
	defer r.Stop()
	if err := r.Run(12345); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the runner to give up an unknown operation", func() bool { return r.Running() == 0 })
}

type errState kilntype.BulkState

func (e errState) Error() string { return "operation is " + string(e) }

// TestOnTheFakeStore runs an operation on enginetest's fake store to its
// end.
func TestOnTheFakeStore(t *testing.T) {
	st := enginetest.NewStore()
	op, err := st.BulkCreate(context.Background(), &store.BulkCreateParams{Action: kilntype.BulkRetry, Owner: "a", Now: base})
	if err != nil || op.State != kilntype.BulkCompleted {
		t.Fatalf("BulkCreate without jobs: %+v, %v", op, err)
	}
	st.AddJobs(&kilntype.JobRow{ID: 7, Kind: "k", Queue: "q", State: kilntype.JobStateAvailable})
	op, err = st.BulkCreate(context.Background(), &store.BulkCreateParams{Action: kilntype.BulkRetry, Owner: "a", Now: base})
	if err != nil || op.FirstID != 7 || op.LastID != 7 {
		t.Fatalf("BulkCreate: %+v, %v", op, err)
	}
	r := bulk.New(settings(st, "a", nil))
	defer r.Stop()
	if err := r.Run(op.ID); err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyNil(t, "the operation to complete", func() error {
		got, err := st.BulkGet(context.Background(), &store.BulkGetParams{ID: op.ID})
		if err == nil && got.State != kilntype.BulkCompleted {
			return errState(got.State)
		}
		return err
	})
}
