package clienttest

import (
	"context"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
)

// HeldArgs are the args of kind "held", whose worker (see StartHeld) runs
// at most 2 jobs per process, 3 in the cluster and 1 per partition key,
// each until the test ends: the fixture of the tests that show
// concurrency limits and their use (client, HTTP API, dashboard, CLI).
type HeldArgs struct{}

// Kind returns "held".
func (HeldArgs) Kind() string { return "held" }

// heldWorker holds each job until release is closed or the job is
// cancelled, after sending on started.
type heldWorker struct {
	kiln.WorkerDefaults[HeldArgs]
	started, release chan struct{}
}

func (heldWorker) MaxConcurrency() int          { return 2 }
func (heldWorker) ClusterMaxConcurrency() int   { return 3 }
func (heldWorker) PartitionMaxConcurrency() int { return 1 }
func (w heldWorker) Work(ctx context.Context, _ *kiln.Job[HeldArgs]) error {
	w.started <- struct{}{}
	select {
	case <-w.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StartHeld returns a started client on st (as NewOn, with clock) whose
// only worker runs the kind "held" (HeldArgs): MaxConcurrency 2,
// ClusterMaxConcurrency 3, PartitionMaxConcurrency 1, each job held until
// the test ends. started receives a value as each job starts (buffered,
// 10). When the test ends the held jobs are released and the client
// stopped.
func StartHeld(t testing.TB, st store.Store, clock kiln.Clock) (c *kiln.Client, started <-chan struct{}) {
	t.Helper()
	w := heldWorker{started: make(chan struct{}, 10), release: make(chan struct{})}
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.Worker[HeldArgs](w))
	c = NewOn(t, st, workers, clock, true, false)
	t.Cleanup(func() { close(w.release) }) // runs before NewOn's stop
	return c, w.started
}
