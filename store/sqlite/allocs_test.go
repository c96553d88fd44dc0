package sqlite_test

import (
	"math"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// TestBurnDownBytes counts the bytes per job of a claim of 200 jobs and of
// their completion, once the statements are prepared and a claim and a
// completion of the same size have run: a claimed job is its row alone (a
// JobRow, 384 bytes; the columns scanned on the way to it are the
// query's), and the completion's arguments are kept by the Store between
// calls. Measured: claim 551, completion 683 bytes per job; 739 with a
// candidate of 576 bytes per job, 1,009 with the arguments made for each
// call. It does not run in parallel: it reads the process's allocation
// count.
func TestBurnDownBytes(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
	ctx := t.Context()
	const n = 200
	const rounds = 4
	ps := make([]*store.JobInsertParams, rounds*n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
			State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}
	}
	if _, err := s.JobInsertMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	bytes := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	// The fewest bytes of the rounds after the first: the count is the
	// whole process's, so goroutines left running by other tests can add
	// to one round's count, not to all of them.
	var claimBytes, completeBytes uint64 = math.MaxUint64, math.MaxUint64
	for round := range rounds {
		var claimed []*kilntype.JobRow
		var err error
		claimed1 := bytes(func() {
			claimed, err = s.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: n, Kinds: []string{"noop"},
				LeasedBy: "proc", Now: base, LeaseExpiresAt: base.Add(time.Minute)})
		})
		if err != nil || len(claimed) != n {
			t.Fatalf("JobClaim: %d jobs, %v", len(claimed), err)
		}
		finish := make([]*store.JobFinishParams, n)
		for i, j := range claimed {
			finish[i] = &store.JobFinishParams{ID: j.ID, LeasedBy: j.LeasedBy, AttemptedAt: *j.AttemptedAt,
				State: kilntype.JobStateCompleted, Now: base,
				Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: *j.AttemptedAt,
					Server: "proc", Outcome: kilntype.AttemptSucceeded}}
		}
		var moved []int64
		completed1 := bytes(func() { moved, err = s.JobFinishMany(ctx, finish) })
		if err != nil || len(moved) != n {
			t.Fatalf("JobFinishMany: %d moved, %v", len(moved), err)
		}
		if round > 0 {
			claimBytes, completeBytes = min(claimBytes, claimed1), min(completeBytes, completed1)
		}
	}
	t.Logf("bytes per job: claim %d, completion %d", claimBytes, completeBytes)
	if claimBytes > 650 {
		t.Errorf("a claim of %d jobs allocated %d bytes per job, want at most 650", n, claimBytes)
	}
	if completeBytes > 850 {
		t.Errorf("a completion of %d jobs allocated %d bytes per job, want at most 850", n, completeBytes)
	}
}
