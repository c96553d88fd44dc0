package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

// childParams returns the params of a pending job that waits for parents.
func childParams(policy kilntype.ParentFailurePolicy, parents ...int64) *store.JobInsertParams {
	p := jobParams(1)[0]
	p.State, p.ParentIDs, p.ParentFailure = kilntype.JobStatePending, parents, policy
	return p
}

// completedJob inserts a job and completes it at base.
func completedJob(t *testing.T, s *postgres.Store) *kilntype.JobRow {
	t.Helper()
	ctx := t.Context()
	if _, err := s.JobInsertMany(ctx, jobParams(1)); err != nil {
		t.Fatal(err)
	}
	got, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: 1, AnyKind: true, LeasedBy: "p",
		LeaseExpiresAt: base.Add(time.Minute), Now: base})
	if err != nil || len(got) != 1 {
		t.Fatalf("JobClaim = %d jobs, %v", len(got), err)
	}
	j := got[0]
	if _, err := s.JobFinishMany(ctx, []*store.JobFinishParams{{ID: j.ID, LeasedBy: "p",
		State: kilntype.JobStateCompleted, Now: base,
		Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: 1, StartedAt: base, Server: "p",
			Outcome: kilntype.AttemptSucceeded}}}); err != nil {
		t.Fatal(err)
	}
	return j
}

// TestResolveAcrossStores runs the resolvers of two processes (two Stores,
// four goroutines each) on the same pending jobs, and checks that each job
// is released exactly once.
func TestResolveAcrossStores(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := newSchema(t)
	a := open(t, &postgres.Options{Schema: schema, MaxConns: 4, Migrate: true})
	b := open(t, &postgres.Options{Schema: schema, MaxConns: 4, Migrate: true})

	res, err := a.JobInsertMany(ctx, jobParams(10))
	if err != nil {
		t.Fatal(err)
	}
	const children = 400
	var ps []*store.JobInsertParams
	for i := range children {
		ps = append(ps, childParams(kilntype.ParentFailureRun, res[i%10].Job.ID, res[(i+1)%10].Job.ID))
	}
	if _, err := a.JobInsertMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if _, err := a.JobCancel(ctx, &store.JobCancelParams{ID: r.Job.ID, Now: base}); err != nil {
			t.Fatal(err)
		}
	}

	var (
		mu       sync.Mutex
		released = map[int64]int{}
		wg       sync.WaitGroup
		errs     = make(chan error, 8)
	)
	for g := range 8 {
		s := []*postgres.Store{a, b}[g%2]
		wg.Go(func() {
			for {
				moved, err := s.JobResolvePending(ctx, &store.JobResolvePendingParams{Now: base, Max: 7})
				if err != nil {
					errs <- err
					return
				}
				if len(moved) == 0 {
					return
				}
				mu.Lock()
				for _, j := range moved {
					released[j.ID]++
					if j.State != kilntype.JobStateAvailable {
						errs <- fmt.Errorf("job %d released to %s", j.ID, j.State)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(released) != children {
		t.Errorf("%d jobs released, want %d", len(released), children)
	}
	for id, n := range released {
		if n != 1 {
			t.Errorf("job %d released %d times", id, n)
		}
	}
}

// TestInsertManyTxUnknownParent checks that an unknown parent fails
// JobInsertManyTx before it writes anything, so the caller's transaction
// stays usable and commits none of the call's jobs.
func TestInsertManyTxUnknownParent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		_, err := s.JobInsertManyTx(ctx, tx, []*store.JobInsertParams{jobParams(1)[0],
			childParams(kilntype.ParentFailureCancel, 999999)})
		if !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("unknown parent: %v, want ErrNotFound", err)
		}
		_, err = s.JobInsertManyTx(ctx, tx, jobParams(1))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := s.JobList(ctx, &store.JobListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Errorf("%d jobs committed, want 1", len(jobs))
	}
}

// TestDeletedChildTakesItsParentRows checks the foreign key that deletes a
// child's parent rows with it, and that a deleted parent's rows stay.
func TestDeletedChildTakesItsParentRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	parents, err := s.JobInsertMany(ctx, jobParams(2))
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.JobInsertMany(ctx, []*store.JobInsertParams{
		childParams(kilntype.ParentFailureCancel, parents[0].Job.ID, parents[1].Job.ID),
		childParams(kilntype.ParentFailureCancel, parents[0].Job.ID),
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		t.Helper()
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{s.Schema()}.Sanitize()+
			`.kiln_job_parent`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 3 {
		t.Fatalf("%d parent rows, want 3", n)
	}
	if _, err := s.JobDelete(ctx, &store.JobDeleteParams{ID: res[0].Job.ID}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("%d parent rows after the child's delete, want 1", n)
	}
	if _, err := s.JobDelete(ctx, &store.JobDeleteParams{ID: parents[0].Job.ID}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("%d parent rows after the parent's delete, want 1", n)
	}
}

// TestCleanerSkipsParentOfUncommittedChild checks that the cleaner does not
// delete a finished job while a transaction inserts a continuation of it
// (the insert locks its parents), nor after that transaction commits.
func TestCleanerSkipsParentOfUncommittedChild(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	parent := completedJob(t, s)
	clean := func() int {
		t.Helper()
		n, err := s.JobDeleteFinished(ctx, &store.JobDeleteFinishedParams{CompletedBefore: base.Add(time.Hour), Max: 10})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	res, err := s.JobInsertManyTx(ctx, tx, []*store.JobInsertParams{childParams(kilntype.ParentFailureCancel, parent.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if n := clean(); n != 0 {
		t.Fatalf("the cleaner deleted %d jobs while a continuation of the parent was being inserted", n)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := clean(); n != 0 {
		t.Fatalf("the cleaner deleted %d jobs while a continuation waits", n)
	}
	moved, err := s.JobResolvePending(ctx, &store.JobResolvePendingParams{Now: base, Max: 10})
	if err != nil || len(moved) != 1 || moved[0].ID != res[0].Job.ID || moved[0].State != kilntype.JobStateAvailable {
		t.Fatalf("JobResolvePending = %v, %v", moved, err)
	}
	if n := clean(); n != 1 {
		t.Fatalf("the cleaner deleted %d jobs once the child was released, want the parent", n)
	}
}

// TestRecurringRefusesDependencies checks that a recurring occurrence
// cannot carry continuation or batch fields, which RecurringEnqueue would
// not record.
func TestRecurringRefusesDependencies(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	row := &kilntype.RecurringRow{ID: "r", Schedule: "* * * * *", Kind: "noop", Args: []byte(`{}`),
		Queue: "default", Priority: 1, MaxAttempts: 1, Overlap: kilntype.OverlapAllow,
		Misfire: kilntype.MisfireRunAll, MisfireMax: 100, NextRunAt: base}
	if _, _, err := s.RecurringUpsert(ctx, &store.RecurringUpsertParams{Row: row, Now: base}); err != nil {
		t.Fatal(err)
	}
	job := jobParams(1)[0]
	job.BatchID = "b"
	_, err := s.RecurringEnqueue(ctx, &store.RecurringEnqueueParams{ID: "r", Overlap: kilntype.OverlapAllow,
		Occurrences: []store.RecurringOccurrenceInsert{{At: base, Job: job}}, Now: base})
	if err == nil || !strings.Contains(err.Error(), "cannot have parents or a batch") {
		t.Errorf("RecurringEnqueue of a batch job: %v, want a refusal", err)
	}
}
