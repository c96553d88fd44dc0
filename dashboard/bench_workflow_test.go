package dashboard_test

import (
	"context"
	"testing"

	"github.com/kilnjobs/kiln"
)

// seedWorkflows adds to BenchmarkPages's store what the recurring entry,
// workflow and batch pages show: 100 runs of the entry "nightly", a job
// with 50 continuations, and a batch "bench-batch" of 1,000 jobs with a
// callback. It returns the parent's ID and a batch member's.
func seedWorkflows(b *testing.B, client *kiln.Client) (parent, member int64) {
	ctx := context.Background()
	if _, err := client.RecurringAddOrUpdate(ctx, kiln.RecurringJob{ID: "nightly", Schedule: "0 3 * * *", Args: okArgs{}}); err != nil {
		b.Fatal(err)
	}
	for range 100 {
		if _, err := client.RecurringTrigger(ctx, "nightly"); err != nil {
			b.Fatal(err)
		}
	}
	res, err := client.Enqueue(ctx, okArgs{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	children := make([]kiln.EnqueueParams, 50)
	for i := range children {
		children[i] = kiln.EnqueueParams{Args: okArgs{}, Opts: &kiln.EnqueueOpts{Parents: []int64{res.Job.ID}}}
	}
	if _, err := client.EnqueueMany(ctx, children); err != nil {
		b.Fatal(err)
	}
	jobs := make([]kiln.EnqueueParams, 1000)
	for i := range jobs {
		jobs[i] = kiln.EnqueueParams{Args: okArgs{}}
	}
	batch, err := client.EnqueueBatch(ctx, jobs, &kiln.BatchOpts{ID: "bench-batch", Callback: okArgs{}})
	if err != nil {
		b.Fatal(err)
	}
	return res.Job.ID, batch.Jobs[500].Job.ID
}
