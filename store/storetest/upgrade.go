package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// UpgradeBase is the time around which the jobs that CheckUpgradedJobs
// expects were written, with the schema of an earlier version: due
// scheduled and retryable jobs at UpgradeBase - 1h, a running job whose
// lease ended then, final jobs finalized then. CheckUpgradedJobs runs them
// at UpgradeBase.
var UpgradeBase = base

// UpgradeKind and UpgradeQueue are the kind and queue of those jobs.
const (
	UpgradeKind  = "upgraded"
	UpgradeQueue = "upgraded"
)

// CheckUpgradedJobs checks that jobs written by an earlier version of the
// schema run to completion once it is migrated: jobs maps each of the
// eight states to the ID of a job of kind UpgradeKind in queue UpgradeQueue
// that was in that state before the migration (the pending one a child of
// the completed one, the running one leased by a process that is gone,
// with its lease ended; see UpgradeBase). s is a store on the migrated
// schema. Driven as the engine drives them (the resolver, the rescuer,
// claims and finishes), every job that could still run ends completed, and
// the final ones are left as they were. Stores call it from their own
// tests, which write the old schema's rows themselves.
func CheckUpgradedJobs(t *testing.T, s store.Store, jobs map[kilntype.JobState]int64) {
	t.Helper()
	ctx := t.Context()
	final := []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded}
	before := make(map[int64]*kilntype.JobRow, len(jobs))
	for _, state := range []kilntype.JobState{kilntype.JobStatePending, kilntype.JobStateScheduled,
		kilntype.JobStateAvailable, kilntype.JobStateRunning, kilntype.JobStateRetryable,
		kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded} {
		id, ok := jobs[state]
		if !ok {
			t.Fatalf("no job in state %s to upgrade", state)
		}
		j, err := s.JobGet(ctx, &store.JobGetParams{ID: id})
		if err != nil {
			t.Fatalf("JobGet(%d) after the migration: %v", id, err)
		}
		if j.State != state || j.Kind != UpgradeKind || j.Queue != UpgradeQueue {
			t.Fatalf("job %d after the migration: %s %s in %s, want %s %s in %s",
				id, j.State, j.Kind, j.Queue, state, UpgradeKind, UpgradeQueue)
		}
		before[id] = j
	}

	now := UpgradeBase
	released, err := s.JobResolvePending(ctx, &store.JobResolvePendingParams{Now: now, Max: 10})
	if err != nil {
		t.Fatalf("JobResolvePending: %v", err)
	}
	wantIDs(t, "jobs released by JobResolvePending", ids(released), []int64{jobs[kilntype.JobStatePending]})
	rescued, err := s.JobRescueExpired(ctx, &store.JobRescueExpiredParams{Now: now, Max: 10})
	if err != nil {
		t.Fatalf("JobRescueExpired: %v", err)
	}
	wantIDs(t, "jobs rescued by JobRescueExpired", ids(rescued), []int64{jobs[kilntype.JobStateRunning]})

	var ran []int64
	for round := 0; ; round++ {
		if round == 10 {
			t.Fatalf("jobs still claimed after %d rounds: %v", round, ran)
		}
		claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: UpgradeQueue, Kinds: []string{UpgradeKind},
			Max: 2, LeasedBy: procA, LeaseExpiresAt: now.Add(leaseTTL), Now: now})
		if err != nil {
			t.Fatalf("JobClaim: %v", err)
		}
		if len(claimed) == 0 {
			break
		}
		ps := make([]*store.JobFinishParams, len(claimed))
		for i, j := range claimed {
			ps[i] = finishParams(j, kilntype.JobStateCompleted, now.Add(time.Second))
			ran = append(ran, j.ID)
		}
		moved, err := s.JobFinishMany(ctx, ps)
		if err != nil {
			t.Fatalf("JobFinishMany: %v", err)
		}
		wantIDSet(t, "jobs completed", moved, ids(claimed))
	}
	wantIDSet(t, "jobs run after the migration", ran, []int64{jobs[kilntype.JobStatePending],
		jobs[kilntype.JobStateScheduled], jobs[kilntype.JobStateAvailable], jobs[kilntype.JobStateRunning],
		jobs[kilntype.JobStateRetryable]})

	for state, id := range jobs {
		j, err := s.JobGet(ctx, &store.JobGetParams{ID: id})
		if err != nil {
			t.Fatalf("JobGet(%d): %v", id, err)
		}
		if slices.Contains(final, state) {
			wantSameJob(t, j, before[id])
			continue
		}
		if j.State != kilntype.JobStateCompleted {
			t.Errorf("job %d, %s before the migration: %s after running, want completed", id, state, j.State)
		}
	}
	counts, err := s.JobCountByState(ctx)
	if err != nil {
		t.Fatalf("JobCountByState: %v", err)
	}
	want := map[kilntype.JobState]int{kilntype.JobStateCompleted: 6, kilntype.JobStateCancelled: 1,
		kilntype.JobStateDiscarded: 1}
	for _, state := range kilntype.JobStates() {
		if counts[state] != want[state] {
			t.Errorf("JobCountByState: %d %s, want %d (all: %v)", counts[state], state, want[state], counts)
		}
	}
}

// Rows is what UpgradedJobIDs reads: *sql.Rows and pgx.Rows both are.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// UpgradedJobIDs reads rows of (id, state), those a store's test returns
// as it writes, with the schema of an earlier version, the jobs that
// CheckUpgradedJobs expects, into the map CheckUpgradedJobs takes. It
// fails the test on a scan error; it leaves rows for the caller to close.
func UpgradedJobIDs(t *testing.T, rows Rows) map[kilntype.JobState]int64 {
	t.Helper()
	jobs := map[kilntype.JobState]int64{}
	for rows.Next() {
		var (
			id    int64
			state string
		)
		if err := rows.Scan(&id, &state); err != nil {
			t.Fatal(err)
		}
		jobs[kilntype.JobState(state)] = id
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return jobs
}
