package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// base is the suite's "now": every time is derived from it. It has
// microseconds, which a store must keep.
var base = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// Process IDs for leases and leadership.
const (
	procA = "process-a"
	procB = "process-b"
)

// leaseTTL is the lease length of the suite's claims.
const leaseTTL = time.Minute

// fixture is one subtest's store and context.
type fixture struct {
	t   *testing.T
	s   store.Store
	ctx context.Context
	seq int // numbers the queues of running
}

// newFixture marks t parallel and gives it a fresh store. When the test
// ends, its counters must agree with its jobs (checkCounters): every test
// of the suite that changes jobs, through whichever store method, is thus
// also a test of the counters.
func newFixture(t *testing.T, newStore NewStoreFunc) *fixture {
	t.Helper()
	t.Parallel()
	f := &fixture{t: t, s: newStore(t), ctx: t.Context()}
	t.Cleanup(f.checkCounters)
	return f
}

// jobMod changes insert params from their suite defaults.
type jobMod func(*store.JobInsertParams)

func kind(k string) jobMod            { return func(p *store.JobInsertParams) { p.Kind = k } }
func queue(q string) jobMod           { return func(p *store.JobInsertParams) { p.Queue = q } }
func priority(n int) jobMod           { return func(p *store.JobInsertParams) { p.Priority = n } }
func maxAttempts(n int) jobMod        { return func(p *store.JobInsertParams) { p.MaxAttempts = n } }
func uniqueKey(k string) jobMod       { return func(p *store.JobInsertParams) { p.UniqueKey = k } }
func scheduledAt(at time.Time) jobMod { return func(p *store.JobInsertParams) { p.ScheduledAt = at } }
func partition(key string) jobMod     { return func(p *store.JobInsertParams) { p.Partition = key } }

// scheduled makes the job scheduled at at.
func scheduled(at time.Time) jobMod {
	return func(p *store.JobInsertParams) { p.State, p.ScheduledAt = kilntype.JobStateScheduled, at }
}

// pending makes the job pending.
func pending() jobMod { return func(p *store.JobInsertParams) { p.State = kilntype.JobStatePending } }

// params returns insert params: an available job of kind "noop" in queue
// "default", priority 1, 3 attempts, enqueued and due at base.
func params(mods ...jobMod) *store.JobInsertParams {
	p := &store.JobInsertParams{
		Kind:        "noop",
		Queue:       "default",
		Args:        json.RawMessage(`{"n":1}`),
		Priority:    1,
		MaxAttempts: 3,
		State:       kilntype.JobStateAvailable,
		ScheduledAt: base,
		CreatedAt:   base,
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

// insertMany inserts ps and fails the test on error.
func (f *fixture) insertMany(ps ...*store.JobInsertParams) []store.JobInsertResult {
	f.t.Helper()
	res, err := f.s.JobInsertMany(f.ctx, ps)
	if err != nil {
		f.t.Fatalf("JobInsertMany: %v", err)
	}
	if len(res) != len(ps) {
		f.t.Fatalf("JobInsertMany: %d results for %d params", len(res), len(ps))
	}
	return res
}

// insert inserts one job and returns it.
func (f *fixture) insert(mods ...jobMod) *kilntype.JobRow {
	f.t.Helper()
	res := f.insertMany(params(mods...))
	if res[0].UniqueSkipped {
		f.t.Fatalf("JobInsertMany: unexpected unique skip of job %d", res[0].Job.ID)
	}
	return res[0].Job
}

// insertN inserts n jobs in one call and returns them in order.
func (f *fixture) insertN(n int, mods ...jobMod) []*kilntype.JobRow {
	f.t.Helper()
	ps := make([]*store.JobInsertParams, n)
	for i := range ps {
		ps[i] = params(mods...)
	}
	jobs := make([]*kilntype.JobRow, n)
	for i, r := range f.insertMany(ps...) {
		jobs[i] = r.Job
	}
	return jobs
}

// get returns job id and fails the test on error.
func (f *fixture) get(id int64) *kilntype.JobRow {
	f.t.Helper()
	j, err := f.s.JobGet(f.ctx, &store.JobGetParams{ID: id})
	if err != nil {
		f.t.Fatalf("JobGet(%d): %v", id, err)
	}
	return j
}

// claimParams claims up to max jobs of queue q for procA at now.
func claimParams(q string, max int, now time.Time) *store.JobClaimParams {
	return &store.JobClaimParams{
		Queue:          q,
		Max:            max,
		AnyKind:        true,
		LeasedBy:       procA,
		LeaseExpiresAt: now.Add(leaseTTL),
		Now:            now,
	}
}

// claim runs JobClaim and fails the test on error.
func (f *fixture) claim(p *store.JobClaimParams) []*kilntype.JobRow {
	f.t.Helper()
	jobs, err := f.s.JobClaim(f.ctx, p)
	if err != nil {
		f.t.Fatalf("JobClaim: %v", err)
	}
	return jobs
}

// running inserts a job and claims it for procA at base, so its lease ends
// at base+leaseTTL. The job goes to a queue of its own unless mods set one;
// that queue must then hold no other job due at base.
func (f *fixture) running(mods ...jobMod) *kilntype.JobRow {
	f.t.Helper()
	f.seq++
	job := f.insert(append([]jobMod{queue(fmt.Sprintf("running-%d", f.seq))}, mods...)...)
	jobs := f.claim(claimParams(job.Queue, 1, base))
	if len(jobs) != 1 || jobs[0].ID != job.ID {
		f.t.Fatalf("claim of job %d returned %v", job.ID, ids(jobs))
	}
	return jobs[0]
}

// retryable returns a job that ran once (see running) and failed, due again
// at at.
func (f *fixture) retryable(at time.Time, mods ...jobMod) *kilntype.JobRow {
	f.t.Helper()
	job := f.running(mods...)
	p := finishParams(job, kilntype.JobStateRetryable, base.Add(time.Second))
	p.ScheduledAt = at
	f.finish(p)
	return f.get(job.ID)
}

// finishParams finishes job, leased by procA, to state at now, with an
// attempt whose outcome matches state.
func finishParams(job *kilntype.JobRow, state kilntype.JobState, now time.Time) *store.JobFinishParams {
	outcome := map[kilntype.JobState]kilntype.AttemptOutcome{
		kilntype.JobStateCompleted: kilntype.AttemptSucceeded,
		kilntype.JobStateRetryable: kilntype.AttemptFailed,
		kilntype.JobStateDiscarded: kilntype.AttemptFailed,
		kilntype.JobStateCancelled: kilntype.AttemptCancelled,
		kilntype.JobStateScheduled: kilntype.AttemptSnoozed,
		kilntype.JobStateAvailable: kilntype.AttemptInterrupted,
	}[state]
	p := &store.JobFinishParams{
		ID:          job.ID,
		LeasedBy:    procA,
		State:       state,
		ScheduledAt: now,
		Now:         now,
		Attempt: kilntype.JobAttempt{
			JobID:      job.ID,
			Attempt:    job.Attempt,
			StartedAt:  base,
			FinishedAt: &now,
			Server:     procA,
			Outcome:    outcome,
		},
	}
	if outcome == kilntype.AttemptFailed || outcome == kilntype.AttemptCancelled {
		p.Attempt.Error = "boom " + string(state)
	}
	if job.AttemptedAt != nil {
		// As the engine does: an attempt starts at its claim's time.
		p.AttemptedAt = *job.AttemptedAt
		p.Attempt.StartedAt = *job.AttemptedAt
	}
	return p
}

// finish runs JobFinishMany, fails the test on error, and returns the IDs
// of the jobs it moved, sorted.
func (f *fixture) finish(ps ...*store.JobFinishParams) []int64 {
	f.t.Helper()
	applied, err := f.s.JobFinishMany(f.ctx, ps)
	if err != nil {
		f.t.Fatalf("JobFinishMany: %v", err)
	}
	slices.Sort(applied)
	return applied
}

// wantApplied checks the IDs a JobFinishMany call reported as moved.
func wantApplied(t *testing.T, got []int64, want ...int64) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("JobFinishMany moved %v, want %v", got, want)
	}
}

// inState returns a job in state, moved there through the Store's own
// methods: pending, scheduled (in the future) and available are inserted;
// running is claimed (see running); retryable, completed, cancelled and
// discarded are claimed and finished at base+1s, a retryable one due at
// base+1h. mods apply to the insert.
func (f *fixture) inState(state kilntype.JobState, mods ...jobMod) *kilntype.JobRow {
	f.t.Helper()
	switch state {
	case kilntype.JobStatePending:
		return f.insert(append(mods, pending())...)
	case kilntype.JobStateScheduled:
		return f.insert(append(mods, scheduled(base.Add(time.Hour)))...)
	case kilntype.JobStateAvailable:
		return f.insert(mods...)
	case kilntype.JobStateRunning:
		return f.running(mods...)
	case kilntype.JobStateRetryable:
		return f.retryable(base.Add(time.Hour), mods...)
	}
	job := f.running(mods...)
	now := base.Add(time.Second)
	f.finish(finishParams(job, state, now))
	job = f.get(job.ID)
	if job.State != state {
		f.t.Fatalf("job %d: state %s, want %s", job.ID, job.State, state)
	}
	return job
}

// attempts returns job id's attempts and fails the test on error.
func (f *fixture) attempts(id int64) []*kilntype.JobAttempt {
	f.t.Helper()
	as, err := f.s.JobAttemptList(f.ctx, &store.JobAttemptListParams{JobID: id})
	if err != nil {
		f.t.Fatalf("JobAttemptList(%d): %v", id, err)
	}
	return as
}

// list runs JobList and fails the test on error.
func (f *fixture) list(p *store.JobListParams) []*kilntype.JobRow {
	f.t.Helper()
	jobs, err := f.s.JobList(f.ctx, p)
	if err != nil {
		f.t.Fatalf("JobList: %v", err)
	}
	return jobs
}

// ids returns the IDs of jobs, in order.
func ids(jobs []*kilntype.JobRow) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

// ptr returns a pointer to t.
func ptr(t time.Time) *time.Time { return &t }
