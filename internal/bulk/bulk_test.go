package bulk_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// fakeOp returns the fake store st with one job and a running retry
// operation owned by "a" over it.
func fakeOp(t *testing.T) (*enginetest.Store, *kilntype.BulkOperation) {
	t.Helper()
	st := enginetest.NewStore()
	st.AddJobs(&kilntype.JobRow{ID: 7, Kind: "k", Queue: "q", State: kilntype.JobStateAvailable})
	op, err := st.BulkCreate(context.Background(), &store.BulkCreateParams{Action: kilntype.BulkRetry, Owner: "a", Now: base})
	if err != nil || op.State != kilntype.BulkRunning {
		t.Fatalf("BulkCreate: %+v, %v", op, err)
	}
	return st, op
}

// waitOp waits until operation id is in state want on st, and returns it.
func waitOp(t *testing.T, st store.BulkStore, id int64, want kilntype.BulkState) *kilntype.BulkOperation {
	t.Helper()
	var got *kilntype.BulkOperation
	testutil.EventuallyNil(t, "the operation to be "+string(want), func() error {
		var err error
		if got, err = st.BulkGet(context.Background(), &store.BulkGetParams{ID: id}); err == nil && got.State != want {
			return errState(got.State)
		}
		return err
	})
	return got
}

// TestDefaults: a runner of zero settings (but the store, owner and clock)
// runs with the default batch, window and pause (a pause as long as the
// batch took) and the default logger.
func TestDefaults(t *testing.T) {
	st, op := fakeOp(t)
	r := bulk.New(bulk.Settings{Store: st, Owner: "a", Now: func() time.Time { return base }})
	defer r.Stop()
	if err := r.Run(op.ID); err != nil {
		t.Fatal(err)
	}
	waitOp(t, st, op.ID, kilntype.BulkCompleted)
	p := st.WaitCalls(t, enginetest.BulkRunBatch, 1)[0].Params.(*store.BulkRunBatchParams)
	if p.Limit != bulk.DefaultBatchSize || p.Window != bulk.DefaultWindow || p.Owner != "a" || !p.Now.Equal(base) {
		t.Errorf("batch params %+v; want the default limit %d and window %d", p, bulk.DefaultBatchSize, bulk.DefaultWindow)
	}
}

// TestReopen: after Stop, Run refuses operations until Reopen.
func TestReopen(t *testing.T) {
	st, op := fakeOp(t)
	r := bulk.New(settings(st, "a", nil))
	r.Stop()
	if err := r.Run(op.ID); err != bulk.ErrStopped {
		t.Fatalf("Run after Stop: %v, want ErrStopped", err)
	}
	r.Reopen()
	defer r.Stop()
	if r.Stopped() {
		t.Fatal("Stopped after Reopen")
	}
	if err := r.Run(op.ID); err != nil {
		t.Fatal(err)
	}
	waitOp(t, st, op.ID, kilntype.BulkCompleted)
}

// TestFailingBatches: a batch that fails is tried again after each of the
// retry delays: a store that recovers meanwhile completes the operation,
// one that does not leaves it failed with the last error, and a Stop
// during a wait leaves it interrupted.
func TestFailingBatches(t *testing.T) {
	hiccup := errors.New("database hiccup")
	t.Run("Recovers", func(t *testing.T) {
		restore := bulk.SetRetryDelays([]time.Duration{time.Microsecond, time.Microsecond})
		defer restore()
		st, op := fakeOp(t)
		flaky := &failingFirst{Store: st, err: hiccup}
		flaky.left.Store(2) // the first try and the first retry fail
		r := bulk.New(settings(flaky, "a", nil))
		defer r.Stop()
		if err := r.Run(op.ID); err != nil {
			t.Fatal(err)
		}
		waitOp(t, st, op.ID, kilntype.BulkCompleted)
		if n := len(st.Calls(enginetest.BulkRunBatch)); n != 1 {
			t.Errorf("%d batches reached the store, want 1 (after 2 failed tries)", n)
		}
	})
	t.Run("GivesUp", func(t *testing.T) {
		restore := bulk.SetRetryDelays([]time.Duration{time.Microsecond, time.Microsecond})
		defer restore()
		st, op := fakeOp(t)
		st.Fail(enginetest.BulkRunBatch, hiccup)
		r := bulk.New(settings(st, "a", nil))
		defer r.Stop()
		if err := r.Run(op.ID); err != nil {
			t.Fatal(err)
		}
		got := waitOp(t, st, op.ID, kilntype.BulkFailed)
		if n := len(st.Calls(enginetest.BulkRunBatch)); n != 3 || !strings.Contains(got.Error, "database hiccup") {
			t.Errorf("failed after %d tries with error %q; want 3 (one and two retries) and the store's error", n, got.Error)
		}
	})
	t.Run("StopWhileWaiting", func(t *testing.T) {
		restore := bulk.SetRetryDelays([]time.Duration{time.Hour})
		defer restore()
		st, op := fakeOp(t)
		st.Fail(enginetest.BulkRunBatch, hiccup)
		r := bulk.New(settings(st, "a", nil))
		if err := r.Run(op.ID); err != nil {
			t.Fatal(err)
		}
		st.WaitCalls(t, enginetest.BulkRunBatch, 1) // then it waits an hour
		r.Stop()
		if got := waitOp(t, st, op.ID, kilntype.BulkInterrupted); got.Error != "" {
			t.Errorf("interrupted with error %q, want none", got.Error)
		}
	})
}

// failingFirst is a BulkStore whose first left calls of BulkRunBatch fail
// with err, without reaching the store.
type failingFirst struct {
	*enginetest.Store
	err  error
	left atomic.Int32
}

func (f *failingFirst) BulkRunBatch(ctx context.Context, p *store.BulkRunBatchParams) (*store.BulkBatchResult, error) {
	if f.left.Add(-1) >= 0 {
		return nil, f.err
	}
	return f.Store.BulkRunBatch(ctx, p)
}
