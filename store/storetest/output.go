package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// withOutput sets p's output.
func withOutput(p *store.JobFinishParams, output string) *store.JobFinishParams {
	p.Output = json.RawMessage(output)
	return p
}

// outputsOf runs JobOutputList and fails the test on error.
func (f *fixture) outputsOf(p *store.JobOutputListParams) []*kilntype.JobOutput {
	f.t.Helper()
	outs, err := f.s.JobOutputList(f.ctx, p)
	if err != nil {
		f.t.Fatalf("JobOutputList(%+v): %v", p, err)
	}
	return outs
}

// wantOutputs checks outputs: the job IDs, states and outputs (as JSON
// values: PostgreSQL's jsonb reformats the text) in order.
func wantOutputs(t *testing.T, got []*kilntype.JobOutput, want ...kilntype.JobOutput) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d outputs %v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.JobID != w.JobID || g.State != w.State || !sameJSON(g.Output, w.Output) {
			t.Errorf("output %d = {%d %s %s}, want {%d %s %s}", i, g.JobID, g.State, g.Output, w.JobID, w.State, w.Output)
		}
	}
}

// sameJSON reports whether a and b are the same JSON value, or both nil.
func sameJSON(a, b json.RawMessage) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

func testOutputs(t *testing.T, newStore NewStoreFunc) {
	now := base.Add(time.Minute)

	t.Run("StoredWithCompletion", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b, c, d := f.running(), f.running(), f.running(), f.running()
		// One batch of completions only (the narrow statement), then a
		// mixed one (the whole one).
		wantApplied(t, f.finish(
			withOutput(finishParams(a, kilntype.JobStateCompleted, now), `{"sum": 3}`),
			finishParams(b, kilntype.JobStateCompleted, now),
		), a.ID, b.ID)
		wantApplied(t, f.finish(
			withOutput(finishParams(c, kilntype.JobStateCompleted, now), `[1, "two"]`),
			// An output on a failed attempt is not stored.
			withOutput(finishParams(d, kilntype.JobStateRetryable, now.Add(time.Hour)), `"lost"`),
		), c.ID, d.ID)
		for _, w := range []struct {
			id     int64
			output string
		}{{a.ID, `{"sum":3}`}, {b.ID, ``}, {c.ID, `[1,"two"]`}, {d.ID, ``}} {
			got := f.get(w.id)
			if want := json.RawMessage(w.output); w.output == "" && got.Output != nil || w.output != "" && !sameJSON(got.Output, want) {
				t.Errorf("job %d: JobGet Output = %s, want %s", w.id, got.Output, w.output)
			}
		}
		// Lists never carry outputs.
		for _, j := range f.list(&store.JobListParams{}) {
			if j.Output != nil {
				t.Errorf("JobList: job %d has Output %s", j.ID, j.Output)
			}
		}
	})

	t.Run("NotStoredWhenTheFinishDoesNotApply", func(t *testing.T) {
		f := newFixture(t, newStore)
		a := f.running()
		p := withOutput(finishParams(a, kilntype.JobStateCompleted, now), `1`)
		p.LeasedBy = "someone else"
		wantApplied(t, f.finish(p))
		if got := f.get(a.ID); got.State != kilntype.JobStateRunning || got.Output != nil {
			t.Fatalf("job = %s with Output %s; want running without output", got.State, got.Output)
		}
	})

	t.Run("RetryClearsOutput", func(t *testing.T) {
		f := newFixture(t, newStore)
		a := f.running()
		f.finish(withOutput(finishParams(a, kilntype.JobStateCompleted, now), `{"n": 1}`))
		retried, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: a.ID, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if retried.Output != nil || f.get(a.ID).Output != nil {
			t.Fatalf("retried job keeps output %s", f.get(a.ID).Output)
		}
		// The new attempt completes without output: none, not the old one.
		again := f.claim(claimParams(a.Queue, 1, now.Add(time.Second)))
		f.finish(finishParams(again[0], kilntype.JobStateCompleted, now.Add(time.Second)))
		if got := f.get(a.ID); got.State != kilntype.JobStateCompleted || got.Output != nil {
			t.Fatalf("job = %s with Output %s; want completed without output", got.State, got.Output)
		}
	})

	t.Run("ParentOutputsByIDs", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b, c := f.running(), f.running(), f.running()
		f.finish(
			withOutput(finishParams(a, kilntype.JobStateCompleted, now), `{"part": "a"}`),
			finishParams(b, kilntype.JobStateCompleted, now),
			withOutput(finishParams(c, kilntype.JobStateDiscarded, now), `"lost"`),
		)
		child := f.insert(childOf(kilntype.ParentFailureRun, a.ID, b.ID, c.ID))
		if moved := f.resolve(now); len(moved) != 1 || moved[0].ID != child.ID {
			t.Fatalf("released %v, want the child %d", ids(moved), child.ID)
		}
		wantOutputs(t, f.outputsOf(&store.JobOutputListParams{IDs: []int64{c.ID, a.ID, b.ID, 1 << 40}}),
			kilntype.JobOutput{JobID: a.ID, State: kilntype.JobStateCompleted, Output: json.RawMessage(`{"part":"a"}`)},
			kilntype.JobOutput{JobID: b.ID, State: kilntype.JobStateCompleted},
			kilntype.JobOutput{JobID: c.ID, State: kilntype.JobStateDiscarded},
		)
		// A deleted parent is absent.
		if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: a.ID}); err != nil {
			t.Fatal(err)
		}
		wantOutputs(t, f.outputsOf(&store.JobOutputListParams{IDs: []int64{a.ID, b.ID}}),
			kilntype.JobOutput{JobID: b.ID, State: kilntype.JobStateCompleted})
	})

	t.Run("BatchOutputsInPages", func(t *testing.T) {
		f := newFixture(t, newStore)
		var ps []*store.JobInsertParams
		for range 5 {
			ps = append(ps, params(queue("batch"), func(p *store.JobInsertParams) { p.BatchID = "b1" }))
		}
		callback := params(childOf(kilntype.ParentFailureRun), func(p *store.JobInsertParams) {
			p.BatchID, p.BatchCallback, p.ParentRefs = "b1", true, []int{0, 1, 2, 3, 4}
		})
		res := f.insertMany(append(ps, callback)...)
		jobs := f.claim(claimParams("batch", 5, now))
		var fins []*store.JobFinishParams
		var want []kilntype.JobOutput
		for i, j := range jobs {
			if i == 4 {
				fins = append(fins, withOutput(finishParams(j, kilntype.JobStateDiscarded, now), `"no"`))
				want = append(want, kilntype.JobOutput{JobID: j.ID, State: kilntype.JobStateDiscarded})
				continue
			}
			out := json.RawMessage(`{"i":` + string(rune('0'+i)) + `}`)
			fins = append(fins, withOutput(finishParams(j, kilntype.JobStateCompleted, now), string(out)))
			want = append(want, kilntype.JobOutput{JobID: j.ID, State: kilntype.JobStateCompleted, Output: out})
		}
		f.finish(fins...)
		wantIDs(t, "released", ids(f.resolve(now)), []int64{res[5].Job.ID})
		// The callback is not one of the batch's jobs.
		wantOutputs(t, f.outputsOf(&store.JobOutputListParams{BatchID: "b1"}), want...)
		page := f.outputsOf(&store.JobOutputListParams{BatchID: "b1", Limit: 2})
		wantOutputs(t, page, want[:2]...)
		page = f.outputsOf(&store.JobOutputListParams{BatchID: "b1", Limit: 2, AfterID: page[1].JobID})
		wantOutputs(t, page, want[2:4]...)
		page = f.outputsOf(&store.JobOutputListParams{BatchID: "b1", Limit: 2, AfterID: page[1].JobID})
		wantOutputs(t, page, want[4:]...)
		wantOutputs(t, f.outputsOf(&store.JobOutputListParams{BatchID: "nope"}))
	})

	t.Run("InvalidParams", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, p := range []*store.JobOutputListParams{
			{},
			{IDs: []int64{1}, BatchID: "b"},
			{IDs: []int64{1}, Limit: -1},
			{IDs: make([]int64, store.MaxOutputListLimit+1)},
		} {
			if _, err := f.s.JobOutputList(f.ctx, p); err == nil {
				t.Errorf("JobOutputList(%+v): no error", p)
			}
		}
	})
}
