package kiln_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/store"
)

type orderArgs struct {
	N int `json:"n"`
}

func (orderArgs) Kind() string { return "order" }

// TestDrainKeepsClaimOrder: a job that a worker enqueues with a higher
// priority while others wait runs next in a drain, on both stores, with a
// clock that does not move. PostgreSQL's claims of named kinds start past
// the last job they took (store.ClaimFrontEvery): a drain's claims read
// from the front (store.JobClaimParams.FromFront), or the job would wait
// for the queue's end.
func TestDrainKeepsClaimOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		var (
			c     *kiln.Client
			order []int
		)
		workers := kiln.NewWorkers()
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[orderArgs]) error {
			order = append(order, job.Args.N)
			if job.Args.N == 1 {
				_, err := c.Enqueue(ctx, orderArgs{N: 99}, &kiln.EnqueueOpts{Priority: 1})
				return err
			}
			return nil
		}))
		clock := kilntest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
		c = kilntest.NewClient(t, &kiln.Config{Store: st, Workers: workers, Clock: clock})
		ctx := t.Context()
		for n := 1; n <= 4; n++ {
			if _, err := c.Enqueue(ctx, orderArgs{N: n}, &kiln.EnqueueOpts{Priority: 2}); err != nil {
				t.Fatal(err)
			}
		}
		res := kilntest.Drain(ctx, t, c, nil)
		if want := []int{1, 99, 2, 3, 4}; !slices.Equal(order, want) || res.Count(kiln.JobStateCompleted) != 5 {
			t.Fatalf("ran %v (%d completed), want %v", order, res.Count(kiln.JobStateCompleted), want)
		}
	})
}
