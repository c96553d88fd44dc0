package completer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// singleWriter is the fake store reporting SingleWriter true: one writer.
type singleWriter struct{ *enginetest.Store }

func (singleWriter) SingleWriter() bool { return true }

// leased returns a fake store holding n jobs (IDs 1..n) leased by "srv".
func leased(t *testing.T, n int) *enginetest.Store {
	t.Helper()
	st := enginetest.NewStore()
	for id := range n {
		st.AddJobs(&kilntype.JobRow{ID: int64(id + 1), Kind: "k"})
	}
	if _, err := st.JobClaim(context.Background(), &store.JobClaimParams{Max: n, AnyKind: true, LeasedBy: "srv"}); err != nil {
		t.Fatal(err)
	}
	return st
}

// results records the Done calls of items.
type results struct {
	mu   sync.Mutex // guards done
	done []result
	wg   sync.WaitGroup
}

type result struct {
	id      int64
	applied bool
}

func (r *results) item(id int64) *outcome {
	r.wg.Add(1)
	return &outcome{Row: &kilntype.JobRow{ID: id}, Params: &store.JobFinishParams{ID: id, LeasedBy: "srv"},
		Done: func(applied bool) {
			r.mu.Lock()
			r.done = append(r.done, result{id, applied})
			r.mu.Unlock()
			r.wg.Done()
		}}
}

// Stop writes every outcome still queued, more than a batch of them, after
// the write under way.
func TestStopWritesWhatIsQueued(t *testing.T) {
	const n = MaxBatch + 200
	st := leased(t, n+1)
	l, _ := enginetest.NewLogger()
	c := New(singleWriter{st}, l, 2*n)
	release := st.Stall(enginetest.JobFinishMany)
	defer release()
	c.Start(context.Background())
	var r results
	c.Finish(r.item(1))
	st.WaitCalls(t, enginetest.JobFinishMany, 1) // the only writer is busy
	for id := int64(2); id <= n+1; id++ {
		c.Finish(r.item(id))
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		c.Stop()
	}()
	enginetest.Eventually(t, "Stop under way", func() bool { return !c.runner.Running() })
	release()
	<-stopped
	r.wg.Wait()
	for _, res := range r.done {
		if !res.applied {
			t.Fatalf("outcome of job %d not applied", res.id)
		}
	}
	if got := len(st.Finished()); got != n+1 {
		t.Fatalf("%d outcomes written, want %d", got, n+1)
	}
}

// Outcomes of one job are written one after the other, in the order
// queued, even when several wait behind one in flight.
func TestOutcomesOfOneJobKeepTheirOrder(t *testing.T) {
	st := leased(t, 1)
	l, _ := enginetest.NewLogger()
	c := New(st, l, 10)
	release := st.Stall(enginetest.JobFinishMany)
	defer release()
	c.Start(context.Background())
	defer c.Stop()
	var r results
	first := r.item(1)
	c.Finish(first)
	st.WaitCalls(t, enginetest.JobFinishMany, 1)
	second, third := r.item(1), r.item(1)
	second.Params.State, third.Params.State = kilntype.JobStateCompleted, kilntype.JobStateDiscarded
	c.Finish(second)
	c.Finish(third)
	release()
	r.wg.Wait()
	var order []*store.JobFinishParams
	for _, call := range st.Calls(enginetest.JobFinishMany) {
		order = append(order, call.Params.([]*store.JobFinishParams)...)
	}
	if !slices.Equal(order, []*store.JobFinishParams{first.Params, second.Params, third.Params}) {
		t.Fatalf("written in the order %v, want as queued", order)
	}
	// Only the first applied: it ended the lease.
	if want := []result{{1, true}, {1, false}, {1, false}}; !slices.Equal(r.done, want) {
		t.Fatalf("done %v, want %v", r.done, want)
	}
}

// A write failing when Stop comes is given up (logged): the job's lease
// expires and it runs again.
func TestFailingWriteGivenUpAtStop(t *testing.T) {
	st := leased(t, 1)
	st.Fail(enginetest.JobFinishMany, errors.New("store down"))
	l, log := enginetest.NewLogger()
	c := New(st, l, 10)
	c.Start(context.Background())
	var r results
	c.Finish(r.item(1))
	st.WaitCalls(t, enginetest.JobFinishMany, 1)
	c.Stop()
	r.wg.Wait()
	if !slices.Equal(r.done, []result{{1, false}}) {
		t.Fatalf("done %v, want job 1 not applied", r.done)
	}
	if len(log.Records("gave up recording job outcomes at shutdown")) == 0 {
		t.Fatal("giving up was not logged")
	}
}
