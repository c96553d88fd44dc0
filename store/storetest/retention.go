package storetest

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// testRetention checks the stored retention rules and JobDeleteFinished
// with rules per kind, per queue and per kind and queue.
func testRetention(t *testing.T, newStore NewStoreFunc) {

	t.Run("SetListDelete", func(t *testing.T) {
		f := newFixture(t, newStore)
		rules := []kilntype.RetentionRule{
			{State: kilntype.JobStateDiscarded, Kind: "y", Keep: 90 * 24 * time.Hour},
			{State: kilntype.JobStateCompleted, Kind: "x", Keep: time.Hour},
			{State: kilntype.JobStateCompleted, Queue: "q", Keep: kilntype.KeepForever},
		}
		for _, r := range rules {
			if err := f.s.RetentionSet(f.ctx, &store.RetentionSetParams{Rule: r, Now: base}); err != nil {
				t.Fatal(err)
			}
		}
		// Replaced, not added.
		later := base.Add(time.Minute)
		if err := f.s.RetentionSet(f.ctx, &store.RetentionSetParams{
			Rule: kilntype.RetentionRule{State: kilntype.JobStateCompleted, Kind: "x", Keep: 2 * time.Hour}, Now: later}); err != nil {
			t.Fatal(err)
		}
		if err := f.s.RetentionSet(f.ctx, &store.RetentionSetParams{
			Rule: kilntype.RetentionRule{State: kilntype.JobStateRunning, Keep: time.Hour}, Now: later}); err == nil {
			t.Error("a rule for running jobs was stored")
		}
		got, err := f.s.RetentionList(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			key     string
			keep    time.Duration
			updated time.Time
		}
		want := []row{
			{"completed\x00\x00q", kilntype.KeepForever, base},
			{"completed\x00x\x00", 2 * time.Hour, later},
			{"discarded\x00y\x00", 90 * 24 * time.Hour, base},
		}
		if len(got) != len(want) {
			t.Fatalf("listed %d rules, want %d: %+v", len(got), len(want), got)
		}
		for i, r := range got {
			if r.Key() != want[i].key || r.Keep != want[i].keep || r.Source != "database" || r.UpdatedAt == nil ||
				!r.UpdatedAt.Equal(want[i].updated) {
				t.Errorf("rule %d: %q keep %v source %q updated %v, want %q keep %v updated %v", i, r.Key(), r.Keep,
					r.Source, r.UpdatedAt, want[i].key, want[i].keep, want[i].updated)
			}
		}
		ok, err := f.s.RetentionDelete(f.ctx, &store.RetentionDeleteParams{State: kilntype.JobStateCompleted, Kind: "x"})
		if err != nil || !ok {
			t.Fatalf("delete: %v, %v", ok, err)
		}
		ok, err = f.s.RetentionDelete(f.ctx, &store.RetentionDeleteParams{State: kilntype.JobStateCompleted, Kind: "x"})
		if err != nil || ok {
			t.Fatalf("delete again: %v, %v, want false", ok, err)
		}
		if got, err := f.s.RetentionList(f.ctx); err != nil || len(got) != 2 {
			t.Fatalf("after delete: %d rules, %v; want 2", len(got), err)
		}
	})

	forEachCleanCall(t, newStore, testDeleteByRules)
}

// testDeleteByRules checks JobDeleteFinished with rules per kind, per queue
// and per kind and queue: three distinct cut-offs, so that a store reading
// ID ranges moves several fronts.
func testDeleteByRules(t *testing.T, newStore NewStoreFunc, clean cleanCall) {
	finalized := base.Add(time.Second) // inState's finalization time
	after := finalized.Add(time.Microsecond)
	t.Run("DeleteByRules", func(t *testing.T) {
		f := newFixture(t, newStore)
		completed := func(k, q string) *kilntype.JobRow {
			return f.inState(kilntype.JobStateCompleted, kind(k), queue(q))
		}
		a1, a2 := completed("a", "q1"), completed("a", "q2")
		b1, b2 := completed("b", "q1"), completed("b", "q2")
		c3 := completed("c", "q3")
		d := f.inState(kilntype.JobStateDiscarded, kind("a"), queue("q1"))
		cancelled := f.inState(kilntype.JobStateCancelled, kind("a"), queue("q1"))
		running := f.inState(kilntype.JobStateRunning, kind("a"), queue("q1"))

		p := &store.JobDeleteFinishedParams{
			// The completed default keeps; kind a's rule deletes, except
			// in q2 (forever); queue q1's rule deletes (kind b there).
			CompletedBefore: finalized,
			DiscardedBefore: after,
			Max:             100,
			Rules: []store.RetentionCutoff{
				{State: kilntype.JobStateCompleted, Kind: "a", Before: after},
				{State: kilntype.JobStateCompleted, Kind: "a", Queue: "q2"},
				{State: kilntype.JobStateCompleted, Queue: "q1", Before: after},
			},
		}
		n, err := clean.call(f.ctx, f.s, p)
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Errorf("deleted %d jobs, want 3 (a in q1, b in q1, the discarded one)", n)
		}
		gone := func(jobs ...*kilntype.JobRow) {
			t.Helper()
			for _, j := range jobs {
				if _, err := f.s.JobGet(f.ctx, &store.JobGetParams{ID: j.ID}); err == nil {
					t.Errorf("job %d (%s, %s, %s) kept, want deleted", j.ID, j.State, j.Kind, j.Queue)
				}
			}
		}
		kept := func(jobs ...*kilntype.JobRow) {
			t.Helper()
			for _, j := range jobs {
				if _, err := f.s.JobGet(f.ctx, &store.JobGetParams{ID: j.ID}); err != nil {
					t.Errorf("job %d (%s, %s, %s): %v, want kept", j.ID, j.State, j.Kind, j.Queue, err)
				}
			}
		}
		gone(a1, b1, d)
		kept(a2, b2, c3, cancelled, running)

		// A rule for the whole state replaces its cut-off; the
		// forever rule still keeps a in q2.
		p.Rules = append(p.Rules, store.RetentionCutoff{State: kilntype.JobStateCompleted, Before: after})
		p.Max = 1
		for i, want := range []int{1, 1, 0} {
			n, err := clean.call(f.ctx, f.s, p)
			if err != nil {
				t.Fatal(err)
			}
			if n != want {
				t.Errorf("call %d with Max 1 deleted %d, want %d", i, n, want)
			}
		}
		gone(b2, c3)
		kept(a2, cancelled, running)
	})
}
