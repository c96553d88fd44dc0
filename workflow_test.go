package kiln_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
)

// TestJobWorkflow checks the graph around a job of a continuation chain
// (a -> b -> c) and around a batch member, with each node's state and the
// counts of what a limit left out.
func TestJobWorkflow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := kiln.NewClient(&kiln.Config{Store: openStore(t, ""), Workers: okWorkers()})
	if err != nil {
		t.Fatal(err)
	}
	enqueue := func(parents ...int64) int64 {
		t.Helper()
		res, err := c.Enqueue(ctx, testArgs{}, &kiln.EnqueueOpts{Parents: parents})
		if err != nil {
			t.Fatal(err)
		}
		return res.Job.ID
	}
	a, a2 := enqueue(), enqueue()
	b := enqueue(a, a2)
	c1, c2 := enqueue(b), enqueue(b)

	w, err := c.JobWorkflow(ctx, b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if w.Job.ID != b || w.Job.State != kiln.JobStatePending || w.Job.Kind != "test" {
		t.Errorf("job %+v", w.Job)
	}
	if len(w.Parents) != 2 || w.Parents[0].ID != a || w.Parents[0].State != kiln.JobStateAvailable || w.Parents[1].ID != a2 || w.MoreParents != 0 {
		t.Errorf("parents %+v (+%d)", w.Parents, w.MoreParents)
	}
	if len(w.Children) != 2 || w.Children[0].ID != c1 || w.Children[1].ID != c2 || w.Children[0].State != kiln.JobStatePending || w.MoreChildren {
		t.Errorf("children %+v", w.Children)
	}
	if w.Batch != nil {
		t.Errorf("batch %+v for a job without one", w.Batch)
	}
	if w, err = c.JobWorkflow(ctx, b, 1); err != nil || len(w.Parents) != 1 || w.MoreParents != 1 || len(w.Children) != 1 || !w.MoreChildren {
		t.Errorf("limit 1: %+v, %v", w, err)
	}

	batch, err := c.EnqueueBatch(ctx, []kiln.EnqueueParams{{Args: testArgs{}}, {Args: testArgs{}}, {Args: testArgs{}}},
		&kiln.BatchOpts{ID: "b1", Callback: testArgs{}})
	if err != nil {
		t.Fatal(err)
	}
	first := batch.Jobs[0].Job.ID
	if w, err = c.JobWorkflow(ctx, first, 2); err != nil {
		t.Fatal(err)
	}
	if w.Batch == nil || w.Batch.ID != "b1" || len(w.BatchJobs) != 2 || w.BatchJobs[0].ID != first || w.MoreBatchJobs != 1 ||
		w.BatchCallback == nil || w.BatchCallback.ID != batch.Callback.ID || w.BatchCallback.State != kiln.JobStatePending {
		t.Errorf("batch member's workflow %+v", w)
	}
	// The callback's parents are the batch's jobs.
	if w, err = c.JobWorkflow(ctx, batch.Callback.ID, 0); err != nil || len(w.Parents) != 3 || w.BatchCallback == nil || w.BatchCallback.ID != batch.Callback.ID {
		t.Errorf("callback's workflow %+v, %v", w, err)
	}
	jobs, err := c.BatchJobs(ctx, "b1", first, 10)
	if err != nil || len(jobs) != 2 || jobs[0].ID != batch.Jobs[1].Job.ID {
		t.Errorf("BatchJobs after the first: %+v, %v", jobs, err)
	}
	if _, err := c.JobWorkflow(ctx, 1<<40, 0); !errors.Is(err, kiln.ErrNotFound) {
		t.Errorf("unknown job: %v", err)
	}
}

// TestJobWorkflowParentGivenTwice: a continuation of [a, b, a] has two
// parents: JobWorkflow lists both and counts no more (MoreParents used to
// count the repeat as a parent left out), on both stores.
func TestJobWorkflowParentGivenTwice(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		c, err := kiln.NewClient(&kiln.Config{Store: st, Workers: okWorkers()})
		if err != nil {
			t.Fatal(err)
		}
		a := must(c.Enqueue(ctx, testArgs{}, nil)).Job.ID
		b := must(c.Enqueue(ctx, testArgs{}, nil)).Job.ID
		child := must(c.Enqueue(ctx, testArgs{}, &kiln.EnqueueOpts{Parents: []int64{b, a, b, b}})).Job
		if got := kiln.ParentIDs(child); len(got) != 2 || got[0] != b || got[1] != a {
			t.Errorf("ParentIDs = %v, want [%d %d]", got, b, a)
		}
		for _, limit := range []int{10, 2} {
			w, err := c.JobWorkflow(ctx, child.ID, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.Parents) != 2 || w.Parents[0].ID != a || w.Parents[1].ID != b || w.MoreParents != 0 {
				t.Errorf("limit %d: parents %+v, MoreParents %d; want [%d %d] and 0", limit, w.Parents, w.MoreParents, a, b)
			}
		}
		w, err := c.JobWorkflow(ctx, child.ID, 1)
		if err != nil || len(w.Parents) != 1 || w.MoreParents != 1 {
			t.Errorf("limit 1: %+v, %v; want 1 parent and MoreParents 1", w, err)
		}
	})
}
