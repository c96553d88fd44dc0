package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// dependencies returns the store's DependencyStore.
func (f *fixture) dependencies() store.DependencyStore { return f.s }

func childOf(policy kilntype.ParentFailurePolicy, parents ...int64) jobMod {
	return func(p *store.JobInsertParams) {
		p.State, p.ParentIDs, p.ParentFailure = kilntype.JobStatePending, parents, policy
	}
}

// resolve runs JobResolvePending at now and returns the IDs it moved.
func (f *fixture) resolve(now time.Time) []*kilntype.JobRow {
	f.t.Helper()
	moved, err := f.dependencies().JobResolvePending(f.ctx, &store.JobResolvePendingParams{Now: now, Max: 1000})
	if err != nil {
		f.t.Fatalf("JobResolvePending: %v", err)
	}
	return moved
}

func testDependencies(t *testing.T, newStore NewStoreFunc) {
	now := base.Add(time.Minute)
	t.Run("ChildWaitsForEveryParent", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.dependencies()
		a, b := f.running(), f.running()
		child := f.insert(childOf(kilntype.ParentFailureCancel, a.ID, b.ID))
		if child.State != kilntype.JobStatePending {
			t.Fatalf("child inserted %s", child.State)
		}
		if moved := f.resolve(now); len(moved) != 0 {
			t.Fatalf("resolved %v while both parents run", ids(moved))
		}
		f.finish(finishParams(a, kilntype.JobStateCompleted, now))
		if moved := f.resolve(now); len(moved) != 0 {
			t.Fatalf("resolved %v while one parent runs", ids(moved))
		}
		// A pending child is never claimed.
		if got := f.claim(claimParams(child.Queue, 10, now)); len(got) != 0 {
			t.Fatalf("claimed pending jobs %v", ids(got))
		}
		f.finish(finishParams(b, kilntype.JobStateCompleted, now))
		moved := f.resolve(now.Add(time.Second))
		wantIDs(t, "released", ids(moved), []int64{child.ID})
		got := f.get(child.ID)
		wantState(t, got, kilntype.JobStateAvailable)
		wantTime(t, "ScheduledAt", got.ScheduledAt, now.Add(time.Second))
		if moved := f.resolve(now.Add(2 * time.Second)); len(moved) != 0 {
			t.Fatalf("released again: %v", ids(moved))
		}
	})

	t.Run("ResolveChildrenOfParents", func(t *testing.T) {
		f := newFixture(t, newStore)
		d := f.dependencies()
		a, b, c := f.running(), f.running(), f.running()
		childA := f.insert(childOf(kilntype.ParentFailureRun, a.ID))
		childB := f.insert(childOf(kilntype.ParentFailureRun, b.ID))
		childAC := f.insert(childOf(kilntype.ParentFailureRun, a.ID, c.ID))
		f.insert(pending()) // no parents: only an unrestricted resolve releases it
		f.finish(finishParams(a, kilntype.JobStateCompleted, now), finishParams(b, kilntype.JobStateCompleted, now))
		moved, err := d.JobResolvePending(f.ctx, &store.JobResolvePendingParams{Now: now, Max: 10, Parents: []int64{a.ID}})
		if err != nil {
			t.Fatal(err)
		}
		// childAC still waits for c; childB's parent is not asked about.
		wantIDs(t, "released", ids(moved), []int64{childA.ID})
		wantState(t, f.get(childB.ID), kilntype.JobStatePending)
		wantState(t, f.get(childAC.ID), kilntype.JobStatePending)
		moved, err = d.JobResolvePending(f.ctx, &store.JobResolvePendingParams{Now: now, Max: 1, Parents: []int64{b.ID, a.ID}})
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "released", ids(moved), []int64{childB.ID})
	})

	for _, tc := range []struct {
		policy      kilntype.ParentFailurePolicy
		parentState kilntype.JobState
		want        kilntype.JobState
	}{
		{kilntype.ParentFailureCancel, kilntype.JobStateDiscarded, kilntype.JobStateCancelled},
		{kilntype.ParentFailureCancel, kilntype.JobStateCancelled, kilntype.JobStateCancelled},
		{kilntype.ParentFailureRun, kilntype.JobStateDiscarded, kilntype.JobStateAvailable},
		{kilntype.ParentFailureRun, kilntype.JobStateCancelled, kilntype.JobStateAvailable},
	} {
		t.Run("Parent"+string(tc.parentState)+"Policy"+string(tc.policy), func(t *testing.T) {
			f := newFixture(t, newStore)
			f.dependencies()
			ok := f.inState(kilntype.JobStateCompleted)
			failed := f.inState(tc.parentState)
			child := f.insert(childOf(tc.policy, ok.ID, failed.ID))
			wantIDs(t, "released", ids(f.resolve(now)), []int64{child.ID})
			got := f.get(child.ID)
			wantState(t, got, tc.want)
			if tc.want == kilntype.JobStateCancelled {
				if want := "parent job " + itoa(failed.ID) + " was " + string(tc.parentState); got.LastError != want || got.FinalizedAt == nil {
					t.Errorf("cancelled child: LastError %q FinalizedAt %v; want %q", got.LastError, got.FinalizedAt, want)
				}
			}
		})
	}

	t.Run("DeletedParentDidNotComplete", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.dependencies()
		parent := f.insert()
		child := f.insert(childOf(kilntype.ParentFailureCancel, parent.ID))
		if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: parent.ID}); err != nil {
			t.Fatal(err)
		}
		f.resolve(now)
		if got := f.get(child.ID); got.State != kilntype.JobStateCancelled || !strings.Contains(got.LastError, "deleted") {
			t.Fatalf("child of a deleted parent: %s %q", got.State, got.LastError)
		}
	})

	t.Run("ParentRefsInOneCall", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.dependencies()
		parent := params(queue("refs"))
		child := params(childOf(kilntype.ParentFailureCancel))
		child.ParentRefs = []int{0}
		res := f.insertMany(parent, child)
		f.finish(finishParams(f.claim(claimParams("refs", 1, now))[0], kilntype.JobStateCompleted, now))
		wantIDs(t, "released", ids(f.resolve(now)), []int64{res[1].Job.ID})
	})

	t.Run("BadParents", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.dependencies()
		parent := f.insert()
		for name, ps := range map[string][]*store.JobInsertParams{
			"unknown parent": {params(), params(childOf(kilntype.ParentFailureCancel, 999999))},
			"not pending":    {params(func(p *store.JobInsertParams) { p.ParentIDs, p.ParentFailure = []int64{parent.ID}, "cancel" })},
			"no policy":      {params(childOf("", parent.ID))},
			"forward ref":    {params(func(p *store.JobInsertParams) { childOf("run")(p); p.ParentRefs = []int{0} })},
		} {
			if _, err := f.s.JobInsertMany(f.ctx, ps); err == nil {
				t.Errorf("%s: no error", name)
			} else if name == "unknown parent" && !errors.Is(err, kilntype.ErrNotFound) {
				t.Errorf("%s: %v, want ErrNotFound", name, err)
			}
		}
		if n := len(f.list(&store.JobListParams{})); n != 1 {
			t.Fatalf("%d jobs after failed inserts, want only the parent", n)
		}
	})

	t.Run("BatchCallbackRunsOnceWithCounts", func(t *testing.T) {
		f := newFixture(t, newStore)
		d := f.dependencies()
		var ps []*store.JobInsertParams
		for range 5 {
			ps = append(ps, params(queue("batch"), func(p *store.JobInsertParams) { p.BatchID = "b1" }))
		}
		callback := params(childOf(kilntype.ParentFailureRun), func(p *store.JobInsertParams) {
			p.BatchID, p.BatchCallback, p.ParentRefs = "b1", true, []int{0, 1, 2, 3, 4}
		})
		res := f.insertMany(append(ps, callback)...)
		b, err := d.BatchGet(f.ctx, &store.BatchGetParams{ID: "b1"})
		if err != nil {
			t.Fatal(err)
		}
		if b.Total != 5 || b.CallbackJobID != res[5].Job.ID || b.Counts[kilntype.JobStateAvailable] != 5 || b.Finished() {
			t.Fatalf("new batch = %+v", b)
		}
		jobs := f.claim(claimParams("batch", 5, now))
		for i, j := range jobs {
			state := kilntype.JobStateCompleted
			if i >= 3 {
				state = kilntype.JobStateDiscarded
			}
			if i < 4 { // the last one still runs
				f.finish(finishParams(j, state, now))
			}
		}
		if moved := f.resolve(now); len(moved) != 0 {
			t.Fatalf("callback released while a batch job runs")
		}
		f.finish(finishParams(jobs[4], kilntype.JobStateDiscarded, now))
		moved := f.resolve(now)
		wantIDs(t, "released", ids(moved), []int64{res[5].Job.ID})
		var meta map[string]any
		if err := json.Unmarshal(f.get(res[5].Job.ID).Metadata, &meta); err != nil {
			t.Fatal(err)
		}
		if meta["kiln.batch_id"] != "b1" || meta["kiln.batch_total"] != 5.0 || meta["kiln.batch_completed"] != 3.0 || meta["kiln.batch_failed"] != 2.0 {
			t.Fatalf("callback metadata = %v", meta)
		}
		if b, _ = d.BatchGet(f.ctx, &store.BatchGetParams{ID: "b1"}); !b.Finished() || b.Counts[kilntype.JobStateCompleted] != 3 {
			t.Fatalf("finished batch = %+v", b)
		}
		if moved := f.resolve(now.Add(time.Minute)); len(moved) != 0 {
			t.Fatalf("callback released twice")
		}
		if _, err := d.BatchGet(f.ctx, &store.BatchGetParams{ID: "nope"}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Fatalf("unknown batch: %v", err)
		}
	})

	// A batch ID is used by one call: a later call naming it fails, writes
	// nothing, and leaves the batch's members and callback as they were
	// (it used to join the batch and take its callback over).
	t.Run("BatchIDUsedOnce", func(t *testing.T) {
		f := newFixture(t, newStore)
		d := f.dependencies()
		batch := func(id string, n int) []*store.JobInsertParams {
			var ps []*store.JobInsertParams
			for range n {
				ps = append(ps, params(queue("batch"), func(p *store.JobInsertParams) { p.BatchID = id }))
			}
			refs := make([]int, n)
			for i := range refs {
				refs[i] = i
			}
			return append(ps, params(childOf(kilntype.ParentFailureRun), func(p *store.JobInsertParams) {
				p.BatchID, p.BatchCallback, p.ParentRefs = id, true, refs
			}))
		}
		first := f.insertMany(batch("dup", 2)...)
		for _, ps := range [][]*store.JobInsertParams{batch("dup", 1), batch("dup", 0), {params(func(p *store.JobInsertParams) { p.BatchID = "dup" })}} {
			_, err := f.s.JobInsertMany(f.ctx, ps)
			var ve *kilntype.ValidationError
			if !errors.As(err, &ve) || ve.Field != "batch_id" || !strings.Contains(err.Error(), `"dup"`) {
				t.Fatalf("insert into the existing batch \"dup\": %v; want a *ValidationError for batch_id naming it", err)
			}
		}
		b, err := d.BatchGet(f.ctx, &store.BatchGetParams{ID: "dup"})
		if err != nil {
			t.Fatal(err)
		}
		if b.Total != 2 || b.CallbackJobID != first[2].Job.ID {
			t.Fatalf("batch after the refused calls: total %d, callback %d; want 2 and %d", b.Total, b.CallbackJobID, first[2].Job.ID)
		}
		if n := len(f.list(&store.JobListParams{})); n != 3 {
			t.Fatalf("%d jobs after the refused calls, want the first call's 3", n)
		}

		// Concurrent calls with one new ID: exactly one makes the batch.
		const calls = 6
		var (
			wg   sync.WaitGroup
			errs [calls]error
			res  [calls][]store.JobInsertResult
		)
		for i := range calls {
			wg.Go(func() { res[i], errs[i] = f.s.JobInsertMany(f.ctx, batch("race", i+1)) })
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			var ve *kilntype.ValidationError
			switch {
			case err == nil && won >= 0:
				t.Fatalf("calls %d and %d both made batch \"race\"", won, i)
			case err == nil:
				won = i
			case !errors.As(err, &ve) || ve.Field != "batch_id":
				t.Fatalf("call %d: %v; want a *ValidationError for batch_id", i, err)
			}
		}
		if won < 0 {
			t.Fatal("no call made batch \"race\"")
		}
		if b, err = d.BatchGet(f.ctx, &store.BatchGetParams{ID: "race"}); err != nil || b.Total != won+1 || b.CallbackJobID != res[won][won+1].Job.ID {
			t.Fatalf("batch \"race\" = %+v, %v; want the %d jobs and callback of call %d", b, err, won+1, won)
		}
	})
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func testCleanerKeepsParents(t *testing.T, newStore NewStoreFunc) {
	forEachCleanCall(t, newStore, testCleanerKeepsParentsBy)
}

func testCleanerKeepsParentsBy(t *testing.T, newStore NewStoreFunc, clean cleanCall) {
	t.Run("ParentOfPendingChildIsKept", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.dependencies()
		done := f.inState(kilntype.JobStateCompleted) // finalized at base+1s
		running := f.running()
		child := f.insert(childOf(kilntype.ParentFailureCancel, done.ID, running.ID))
		other := f.inState(kilntype.JobStateCompleted)
		cutoff := base.Add(time.Hour)
		n, err := clean.call(f.ctx, f.s, &store.JobDeleteFinishedParams{CompletedBefore: cutoff, Max: 100})
		if err != nil || n != 1 {
			t.Fatalf("JobDeleteFinished = %d, %v; want only the unrelated job deleted", n, err)
		}
		if _, err := f.s.JobGet(f.ctx, &store.JobGetParams{ID: other.ID}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Fatalf("unrelated job: %v", err)
		}
		f.finish(finishParams(running, kilntype.JobStateCompleted, base.Add(2*time.Second)))
		f.resolve(cutoff)
		wantState(t, f.get(child.ID), kilntype.JobStateAvailable)
		// Once the child is released, its parents may go.
		if n, _ := clean.call(f.ctx, f.s, &store.JobDeleteFinishedParams{CompletedBefore: cutoff, Max: 100}); n != 2 {
			t.Fatalf("after release, deleted %d parents, want 2", n)
		}
	})
}
