package storetest

import (
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// relatives runs JobRelativeList and fails the test on error.
func (f *fixture) relatives(p store.JobRelativeListParams) []*store.JobNode {
	f.t.Helper()
	got, err := f.s.JobRelativeList(f.ctx, &p)
	if err != nil {
		f.t.Fatalf("JobRelativeList(%+v): %v", p, err)
	}
	if got == nil {
		f.t.Fatalf("JobRelativeList(%+v) = nil, want a list", p)
	}
	return got
}

// wantNodes fails t unless got are the jobs want (ID, kind and state; a
// nil want entry is a deleted job of ID id).
func wantNodes(t *testing.T, what string, got []*store.JobNode, want ...store.JobNode) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d nodes %v, want %d", what, len(got), got, len(want))
	}
	for i, w := range want {
		if *got[i] != w {
			t.Errorf("%s: node %d = %+v, want %+v", what, i, *got[i], w)
		}
	}
}

func testJobRelatives(t *testing.T, newStore NewStoreFunc) {
	t.Run("ParentsChildrenBatch", func(t *testing.T) {
		f := newFixture(t, newStore)
		a := f.insert(kind("a"))
		b := f.insert(kind("b"))
		gone := f.insert(kind("gone"))
		child := f.insert(kind("child"), childOf(kilntype.ParentFailureRun, a.ID, b.ID, gone.ID))
		other := f.insert(kind("other"), childOf(kilntype.ParentFailureCancel, a.ID))
		if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: gone.ID}); err != nil {
			t.Fatal(err)
		}
		node := func(j *kilntype.JobRow) store.JobNode { return store.JobNode{ID: j.ID, Kind: j.Kind, State: j.State} }
		wantNodes(t, "parents", f.relatives(store.JobRelativeListParams{ParentsOf: child.ID}),
			node(a), node(b), store.JobNode{ID: gone.ID})
		wantNodes(t, "parents after a", f.relatives(store.JobRelativeListParams{ParentsOf: child.ID, AfterID: a.ID, Limit: 1}), node(b))
		wantNodes(t, "children", f.relatives(store.JobRelativeListParams{ChildrenOf: a.ID}), node(child), node(other))
		wantNodes(t, "children limit 1", f.relatives(store.JobRelativeListParams{ChildrenOf: a.ID, Limit: 1}), node(child))
		wantNodes(t, "no children", f.relatives(store.JobRelativeListParams{ChildrenOf: child.ID}))

		var ps []*store.JobInsertParams
		for range 3 {
			ps = append(ps, params(kind("member"), func(p *store.JobInsertParams) { p.BatchID = "b1" }))
		}
		ps = append(ps, params(kind("callback"), func(p *store.JobInsertParams) {
			p.State, p.ParentFailure = kilntype.JobStatePending, kilntype.ParentFailureRun
			p.BatchID, p.BatchCallback, p.ParentRefs = "b1", true, []int{0, 1, 2}
		}))
		res := f.insertMany(ps...)
		members := f.relatives(store.JobRelativeListParams{Batch: "b1"})
		wantNodes(t, "batch", members, node(res[0].Job), node(res[1].Job), node(res[2].Job))
		wantNodes(t, "batch page", f.relatives(store.JobRelativeListParams{Batch: "b1", AfterID: res[0].Job.ID, Limit: 1}), node(res[1].Job))
		wantNodes(t, "unknown batch", f.relatives(store.JobRelativeListParams{Batch: "nope"}))
		wantNodes(t, "unknown job", f.relatives(store.JobRelativeListParams{ParentsOf: 1 << 40}))
	})

	t.Run("ExactlyOneSet", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, p := range []store.JobRelativeListParams{{}, {ParentsOf: 1, Batch: "b"}, {ParentsOf: 1, ChildrenOf: 1}} {
			if _, err := f.s.JobRelativeList(f.ctx, &p); err == nil {
				t.Errorf("JobRelativeList(%+v) succeeded", p)
			}
		}
	})
}
