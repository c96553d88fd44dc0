package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func createdAt(at time.Time) jobMod { return func(p *store.JobInsertParams) { p.CreatedAt = at } }

// bulkCreate creates an operation owned by procA at base+1m and fails the
// test on error.
func (f *fixture) bulkCreate(action kilntype.BulkAction, filter kilntype.JobFilter, target string) *kilntype.BulkOperation {
	f.t.Helper()
	op, err := f.s.BulkCreate(f.ctx, &store.BulkCreateParams{
		Action: action, Filter: filter, TargetQueue: target, Owner: procA, Now: base.Add(time.Minute),
	})
	if err != nil {
		f.t.Fatalf("BulkCreate: %v", err)
	}
	return op
}

// bulkBatch runs one batch of op as owner and fails the test on error.
func (f *fixture) bulkBatch(id int64, owner string, limit int, window int64) *store.BulkBatchResult {
	f.t.Helper()
	res, err := f.s.BulkRunBatch(f.ctx, &store.BulkRunBatchParams{
		ID: id, Owner: owner, Now: base.Add(2 * time.Minute), Limit: limit, Window: window,
	})
	if err != nil {
		f.t.Fatalf("BulkRunBatch: %v", err)
	}
	return res
}

// bulkRun runs op's batches as procA until it stops running, checking
// that each batch changes and takes at most limit jobs, examines at most
// window IDs and moves the cursor forward; it returns the operation at the
// end and every batch's result.
func (f *fixture) bulkRun(op *kilntype.BulkOperation, limit int, window int64) (*kilntype.BulkOperation, []*store.BulkBatchResult) {
	f.t.Helper()
	var results []*store.BulkBatchResult
	for i := 0; op.State == kilntype.BulkRunning; i++ {
		if i > 10_000 {
			f.t.Fatalf("operation %d still running after %d batches: %+v", op.ID, i, op)
		}
		res := f.bulkBatch(op.ID, procA, limit, window)
		after := res.Op
		if took := after.Matched - op.Matched; took > int64(limit) {
			f.t.Errorf("a batch took %d jobs, limit %d", took, limit)
		}
		if after.Cursor-op.Cursor > window {
			f.t.Errorf("a batch moved the cursor from %d to %d, window %d", op.Cursor, after.Cursor, window)
		}
		if after.State == kilntype.BulkRunning && after.Cursor <= op.Cursor {
			f.t.Fatalf("a batch left the cursor at %d", after.Cursor)
		}
		results = append(results, res)
		op = after
	}
	return op, results
}

// bulkIDs returns the IDs of jobs.
func bulkIDs(jobs ...*kilntype.JobRow) []int64 { return ids(jobs) }

func testBulk(t *testing.T, newStore NewStoreFunc) {
	t.Run("RetryFilter", func(t *testing.T) {
		f := newFixture(t, newStore)
		// Finished jobs first: each runs in a queue of its own.
		var want []int64
		var others []*kilntype.JobRow
		for i := range 7 {
			want = append(want, f.inState(kilntype.JobStateDiscarded, kind("x"), tags("t"), args(`{"n":"find-me"}`)).ID)
			others = append(others,
				f.inState(kilntype.JobStateDiscarded, kind("y"), tags("t"), args(`{"n":"find-me"}`)),
				f.inState(kilntype.JobStateCompleted, kind("x"), tags("t"), args(`{"n":"find-me"}`)),
				f.inState(kilntype.JobStateDiscarded, kind("x"), args(`{"n":"find-me"}`)),
				f.inState(kilntype.JobStateDiscarded, kind("x"), tags("t"), args(`{"n":"other"}`)),
				f.inState(kilntype.JobStateDiscarded, kind("x"), tags("t"), args(`{"n":"find-me"}`),
					createdAt(base.Add(-time.Duration(i+1)*time.Hour))),
			)
		}
		filter := kilntype.JobFilter{
			States: []kilntype.JobState{kilntype.JobStateDiscarded}, Kinds: []string{"x"}, Tag: "t",
			ArgsContains: "find-me", CreatedFrom: base.Add(-time.Minute), CreatedBefore: base.Add(time.Minute),
		}
		n, err := f.s.JobCountMatching(f.ctx, &store.JobCountMatchingParams{Filter: filter})
		if err != nil || n != len(want) {
			t.Errorf("JobCountMatching = %d, %v; want %d", n, err, len(want))
		}
		for _, limit := range []int{2, len(want), len(want) + 1} {
			n, err := f.s.JobCountMatching(f.ctx, &store.JobCountMatchingParams{Filter: filter, Limit: limit})
			if err != nil || n != min(limit, len(want)) {
				t.Errorf("JobCountMatching up to %d = %d, %v; want %d", limit, n, err, min(limit, len(want)))
			}
		}
		op := f.bulkCreate(kilntype.BulkRetry, filter, "")
		if op.State != kilntype.BulkRunning || op.Owner != procA || op.FirstID != want[0] || op.LastID < want[len(want)-1] ||
			op.Cursor != op.FirstID-1 || op.Progress() != 0 {
			t.Fatalf("BulkCreate = %+v", op)
		}
		op, results := f.bulkRun(op, 2, 5)
		if op.State != kilntype.BulkCompleted || op.FinishedAt == nil || op.Progress() != 1 {
			t.Errorf("after the batches: %+v", op)
		}
		if op.Matched != int64(len(want)) || op.Changed != int64(len(want)) || op.Skipped != 0 {
			t.Errorf("matched %d, changed %d, skipped %d; want %d, %d, 0", op.Matched, op.Changed, op.Skipped, len(want), len(want))
		}
		if op.Batches < 4 {
			t.Errorf("%d batches, want at least 4 (7 jobs, 2 a batch)", op.Batches)
		}
		var queues []string
		for _, r := range results {
			queues = append(queues, r.Queues...)
		}
		for _, id := range want {
			j := f.get(id)
			wantState(t, j, kilntype.JobStateAvailable)
			if !slices.Contains(queues, j.Queue) {
				t.Errorf("retried job %d's queue %s not among the results' queues %v", id, j.Queue, queues)
			}
		}
		for _, o := range others {
			if j := f.get(o.ID); j.State != o.State {
				t.Errorf("job %d (kind %s, created %v) went from %s to %s", o.ID, o.Kind, o.CreatedAt, o.State, j.State)
			}
		}
		f.wantCounts("a bulk retry")
		got, err := f.s.BulkGet(f.ctx, &store.BulkGetParams{ID: op.ID})
		if err != nil || got.State != kilntype.BulkCompleted || !slices.Equal(got.Filter.Kinds, []string{"x"}) ||
			!got.Filter.CreatedFrom.Equal(filter.CreatedFrom) {
			t.Errorf("BulkGet = %+v, %v", got, err)
		}
	})

	t.Run("RetrySkips", func(t *testing.T) {
		f := newFixture(t, newStore)
		running := f.inState(kilntype.JobStateRunning)
		completed := f.inState(kilntype.JobStateCompleted, maxAttempts(1))
		first := f.inState(kilntype.JobStateDiscarded, uniqueKey("k"))
		second := f.inState(kilntype.JobStateCancelled, uniqueKey("k"))
		available := f.inState(kilntype.JobStateAvailable)
		op, _ := f.bulkRun(f.bulkCreate(kilntype.BulkRetry, kilntype.JobFilter{}, ""), 100, 100)
		if op.Matched != 5 || op.Changed != 2 || op.Skipped != 3 {
			t.Errorf("matched %d, changed %d, skipped %d; want 5, 2, 3", op.Matched, op.Changed, op.Skipped)
		}
		wantState(t, f.get(running.ID), kilntype.JobStateRunning)
		j := f.get(completed.ID)
		wantState(t, j, kilntype.JobStateAvailable)
		if j.MaxAttempts != 2 || len(f.attempts(completed.ID)) != 1 {
			t.Errorf("retried completed job: max attempts %d, %d attempts; want 2, 1", j.MaxAttempts, len(f.attempts(completed.ID)))
		}
		wantState(t, f.get(first.ID), kilntype.JobStateAvailable)
		wantState(t, f.get(second.ID), kilntype.JobStateCancelled) // its key is held by first now
		wantState(t, f.get(available.ID), kilntype.JobStateAvailable)
		f.wantCounts("a bulk retry with skips")
	})

	t.Run("Cancel", func(t *testing.T) {
		f := newFixture(t, newStore)
		running := f.inState(kilntype.JobStateRunning)
		discarded := f.inState(kilntype.JobStateDiscarded)
		scheduled := f.inState(kilntype.JobStateScheduled)
		available := f.inState(kilntype.JobStateAvailable)
		op, results := f.bulkRun(f.bulkCreate(kilntype.BulkCancel, kilntype.JobFilter{}, ""), 10, 10)
		if op.Matched != 4 || op.Changed != 3 || op.Skipped != 1 {
			t.Errorf("matched %d, changed %d, skipped %d; want 4, 3, 1", op.Matched, op.Changed, op.Skipped)
		}
		j := f.get(running.ID)
		wantState(t, j, kilntype.JobStateRunning)
		if j.CancelRequestedAt == nil {
			t.Error("running job without a cancel request")
		}
		var requested []int64
		for _, r := range results {
			requested = append(requested, r.CancelRequested...)
		}
		wantIDs(t, "CancelRequested", requested, []int64{running.ID})
		wantState(t, f.get(discarded.ID), kilntype.JobStateDiscarded)
		for _, id := range []int64{scheduled.ID, available.ID} {
			j := f.get(id)
			wantState(t, j, kilntype.JobStateCancelled)
			wantTimePtr(t, "FinalizedAt", j.FinalizedAt, ptr(base.Add(2*time.Minute)))
		}
		f.wantCounts("a bulk cancel")
	})

	t.Run("DeleteAndMove", func(t *testing.T) {
		f := newFixture(t, newStore)
		running := f.inState(kilntype.JobStateRunning, kind("a"))
		completed := f.inState(kilntype.JobStateCompleted, kind("a"))
		available := f.inState(kilntype.JobStateAvailable, kind("a"), queue("q1"))
		keep := f.inState(kilntype.JobStateAvailable, kind("b"), queue("q1"))
		moved, results := f.bulkRun(f.bulkCreate(kilntype.BulkMove, kilntype.JobFilter{Kinds: []string{"a"}}, "q2"), 10, 10)
		if moved.Matched != 3 || moved.Changed != 2 || moved.TargetQueue != "q2" {
			t.Errorf("move: %+v", moved)
		}
		if j := f.get(running.ID); j.Queue == "q2" {
			t.Error("running job moved")
		}
		for _, id := range []int64{completed.ID, available.ID} {
			if j := f.get(id); j.Queue != "q2" {
				t.Errorf("job %d in queue %s, want q2", id, j.Queue)
			}
		}
		if j := f.get(keep.ID); j.Queue != "q1" {
			t.Errorf("job of kind b moved to %s", j.Queue)
		}
		if len(results) == 0 || !slices.Contains(results[0].Queues, "q2") {
			t.Errorf("move results %+v: want q2 to wake", results)
		}
		if c := f.claim(claimParams("q2", 10, base.Add(time.Hour))); !slices.Equal(ids(c), []int64{available.ID}) {
			t.Errorf("claim of q2 = %v, want the moved available job", ids(c))
		}
		f.wantCounts("a bulk move")

		// The moved available job now runs: the delete skips it.
		deleted, _ := f.bulkRun(f.bulkCreate(kilntype.BulkDelete, kilntype.JobFilter{Queues: []string{"q2", running.Queue}}, ""), 1, 1)
		if deleted.Matched != 3 || deleted.Changed != 1 || deleted.Skipped != 2 {
			t.Errorf("delete: %+v", deleted)
		}
		if _, err := f.s.JobGet(f.ctx, &store.JobGetParams{ID: completed.ID}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("JobGet(%d) after the delete: %v", completed.ID, err)
		}
		f.get(running.ID)
		f.get(available.ID)
		f.get(keep.ID)
		f.wantCounts("a bulk delete")
	})

	t.Run("CancelMidway", func(t *testing.T) {
		f := newFixture(t, newStore)
		jobs := f.insertN(10, kind("x"))
		op := f.bulkCreate(kilntype.BulkCancel, kilntype.JobFilter{}, "")
		op = f.bulkBatch(op.ID, procA, 3, 100).Op
		if op.Changed != 3 || op.State != kilntype.BulkRunning {
			t.Fatalf("after one batch: %+v", op)
		}
		staleBefore := base // the batch updated it at base+2m: not stale
		got, err := f.s.BulkCancel(f.ctx, &store.BulkCancelParams{ID: op.ID, Now: base.Add(3 * time.Minute), StaleBefore: staleBefore})
		if err != nil || got.State != kilntype.BulkRunning || got.CancelRequestedAt == nil {
			t.Fatalf("BulkCancel of a live operation = %+v, %v; want still running, cancel requested", got, err)
		}
		op = f.bulkBatch(op.ID, procA, 3, 100).Op
		if op.State != kilntype.BulkCancelled || op.Changed != 3 || op.FinishedAt == nil {
			t.Errorf("the batch after the cancel: %+v", op)
		}
		cancelled := 0
		for _, j := range jobs {
			if f.get(j.ID).State == kilntype.JobStateCancelled {
				cancelled++
			}
		}
		if cancelled != 3 {
			t.Errorf("%d jobs cancelled, want 3", cancelled)
		}
		// Done: nothing more happens.
		if again := f.bulkBatch(op.ID, procA, 3, 100).Op; again.State != kilntype.BulkCancelled || again.Batches != op.Batches {
			t.Errorf("a batch of a cancelled operation: %+v", again)
		}
		f.wantCounts("a cancelled bulk cancel")
	})

	t.Run("ReleaseResume", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(5)
		op := f.bulkCreate(kilntype.BulkCancel, kilntype.JobFilter{}, "")
		op = f.bulkBatch(op.ID, procA, 2, 100).Op
		// Another process may not run it, nor take it while it is live.
		if got := f.bulkBatch(op.ID, procB, 2, 100).Op; got.Changed != 2 {
			t.Errorf("a batch by another process changed jobs: %+v", got)
		}
		if _, err := f.s.BulkResume(f.ctx, &store.BulkResumeParams{ID: op.ID, Owner: procB, Now: base.Add(3 * time.Minute),
			StaleBefore: base}); !errors.Is(err, kilntype.ErrJobState) {
			t.Errorf("BulkResume of a live operation: %v, want ErrJobState", err)
		}
		got, err := f.s.BulkRelease(f.ctx, &store.BulkReleaseParams{ID: op.ID, Owner: procA, State: kilntype.BulkInterrupted,
			Now: base.Add(3 * time.Minute)})
		if err != nil || got.State != kilntype.BulkInterrupted || got.FinishedAt != nil || got.Done() {
			t.Fatalf("BulkRelease = %+v, %v", got, err)
		}
		if got := f.bulkBatch(op.ID, procA, 2, 100).Op; got.State != kilntype.BulkInterrupted || got.Changed != 2 {
			t.Errorf("a batch of an interrupted operation: %+v", got)
		}
		got, err = f.s.BulkResume(f.ctx, &store.BulkResumeParams{ID: op.ID, Owner: procB, Now: base.Add(4 * time.Minute),
			StaleBefore: base})
		if err != nil || got.State != kilntype.BulkRunning || got.Owner != procB || got.Cursor != op.Cursor {
			t.Fatalf("BulkResume = %+v, %v", got, err)
		}
		for got.State == kilntype.BulkRunning {
			got = f.bulkBatch(op.ID, procB, 2, 100).Op
		}
		if got.State != kilntype.BulkCompleted || got.Changed != 5 {
			t.Errorf("resumed operation: %+v", got)
		}
		// A stale running operation (its process died) is taken over, and
		// cancelled at once.
		stale := f.bulkCreate(kilntype.BulkRetry, kilntype.JobFilter{}, "")
		got, err = f.s.BulkCancel(f.ctx, &store.BulkCancelParams{ID: stale.ID, Now: base.Add(time.Hour), StaleBefore: base.Add(30 * time.Minute)})
		if err != nil || got.State != kilntype.BulkCancelled || got.FinishedAt == nil {
			t.Errorf("BulkCancel of a stale operation = %+v, %v", got, err)
		}
		failed := f.bulkCreate(kilntype.BulkRetry, kilntype.JobFilter{}, "")
		got, err = f.s.BulkRelease(f.ctx, &store.BulkReleaseParams{ID: failed.ID, Owner: procA, State: kilntype.BulkFailed,
			Error: "boom\x00", Now: base.Add(time.Hour)})
		if err != nil || got.State != kilntype.BulkFailed || got.Error != "boom\uFFFD" || got.FinishedAt == nil {
			t.Errorf("BulkRelease failed = %+v, %v", got, err)
		}
		list, err := f.s.BulkList(f.ctx, &store.BulkListParams{})
		if err != nil || len(list) != 3 || list[0].ID != failed.ID || list[2].ID != op.ID {
			t.Errorf("BulkList = %v, %v", list, err)
		}
		list, err = f.s.BulkList(f.ctx, &store.BulkListParams{Cursor: failed.ID, Limit: 1})
		if err != nil || len(list) != 1 || list[0].ID != stale.ID {
			t.Errorf("BulkList after a cursor = %v, %v", list, err)
		}
	})

	t.Run("Validation", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, p := range []*store.BulkCreateParams{
			{Action: "explode", Owner: procA, Now: base},
			{Action: kilntype.BulkMove, Owner: procA, Now: base},
			{Action: kilntype.BulkRetry, TargetQueue: "q", Owner: procA, Now: base},
			{Action: kilntype.BulkRetry, Filter: kilntype.JobFilter{States: []kilntype.JobState{"nope"}}, Owner: procA, Now: base},
			{Action: kilntype.BulkRetry, Filter: kilntype.JobFilter{Kinds: []string{"a\x00"}}, Owner: procA, Now: base},
		} {
			var ve *kilntype.ValidationError
			if _, err := f.s.BulkCreate(f.ctx, p); !errors.As(err, &ve) {
				t.Errorf("BulkCreate(%+v) = %v, want a ValidationError", p, err)
			}
		}
		// No jobs: completed at once.
		op := f.bulkCreate(kilntype.BulkDelete, kilntype.JobFilter{}, "")
		if op.State != kilntype.BulkCompleted || op.FinishedAt == nil || op.Progress() != 1 {
			t.Errorf("an operation on an empty store: %+v", op)
		}
		if _, err := f.s.BulkGet(f.ctx, &store.BulkGetParams{ID: op.ID + 100}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("BulkGet of an unknown ID: %v", err)
		}
		if _, err := f.s.BulkCancel(f.ctx, &store.BulkCancelParams{ID: op.ID + 100, Now: base}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("BulkCancel of an unknown ID: %v", err)
		}
		if got, err := f.s.BulkCancel(f.ctx, &store.BulkCancelParams{ID: op.ID, Now: base}); err != nil || got.State != kilntype.BulkCompleted {
			t.Errorf("BulkCancel of a completed operation = %+v, %v", got, err)
		}
	})

	t.Run("ListCreatedRange", func(t *testing.T) {
		f := newFixture(t, newStore)
		old := f.insert(createdAt(base.Add(-time.Hour)))
		mid := f.insert(createdAt(base))
		f.insert(createdAt(base.Add(time.Hour)))
		got := f.list(&store.JobListParams{CreatedFrom: base.Add(-time.Hour), CreatedBefore: base.Add(time.Hour), OrderAsc: true})
		wantIDs(t, "JobList created in [base-1h, base+1h)", ids(got), bulkIDs(old, mid))
	})
}
