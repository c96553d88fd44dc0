package sqlite_test

import (
	"context"
	"math"
	"path/filepath"
	"runtime"
	"runtime/metrics"
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
// calls, three per job (sqlCompleteJobs: the values the jobs share are
// sent once). Measured: claim 550, completion 268 bytes per job; 683 with
// ten arguments per job (sqlFinishJobs: database/sql's 40 bytes per
// argument), 739 and 1,009 before (a candidate of 576 bytes per job, the
// arguments made for each call). It does not run in parallel: it reads the process's allocation
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
		finish := completionsOf(claimed)
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
	if completeBytes > 400 {
		t.Errorf("a completion of %d jobs allocated %d bytes per job, want at most 400", n, completeBytes)
	}
}

// TestFinishGoroutines counts the goroutines that a completion of 200 jobs
// starts under a context with a deadline, as the engine's completer calls
// it: database/sql's watch of the transaction and of each query's rows,
// and modernc.org/sqlite's of the BEGIN and the COMMIT (5 chunks, 64, 64,
// 64, 4 and 4 jobs: 8), but none for each statement, which runs under a
// context that cannot end. Measured: 8; 15 when each statement's context
// was the call's. It does not run in parallel: it reads the process's
// count of goroutines created.
func TestFinishGoroutines(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
	const n = 200
	const rounds = 4
	ps := make([]*store.JobInsertParams, rounds*n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
			State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}
	}
	if _, err := s.JobInsertMany(t.Context(), ps); err != nil {
		t.Fatal(err)
	}
	created := func() uint64 {
		sample := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	// The fewest of the rounds after the first (which prepares the
	// statements): goroutines of other tests can add to one round's count.
	fewest := uint64(math.MaxUint64)
	for round := range rounds {
		claimed, err := s.JobClaim(t.Context(), &store.JobClaimParams{Queue: "default", Max: n, Kinds: []string{"noop"},
			LeasedBy: "proc", Now: base, LeaseExpiresAt: base.Add(time.Minute)})
		if err != nil || len(claimed) != n {
			t.Fatalf("JobClaim: %d jobs, %v", len(claimed), err)
		}
		finish := completionsOf(claimed)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		before := created()
		moved, err := s.JobFinishMany(ctx, finish)
		after := created()
		cancel()
		if err != nil || len(moved) != n {
			t.Fatalf("JobFinishMany: %d moved, %v", len(moved), err)
		}
		if round > 0 {
			fewest = min(fewest, after-before)
		}
	}
	t.Logf("goroutines created by a completion of %d jobs: %d", n, fewest)
	if fewest > 10 {
		t.Errorf("a completion of %d jobs started %d goroutines, want at most 10", n, fewest)
	}
}

// completionsOf returns the finishes that complete the claimed jobs, each
// a successful attempt on server "proc" at base.
func completionsOf(claimed []*kilntype.JobRow) []*store.JobFinishParams {
	finish := make([]*store.JobFinishParams, len(claimed))
	for i, j := range claimed {
		finish[i] = &store.JobFinishParams{ID: j.ID, LeasedBy: j.LeasedBy, AttemptedAt: *j.AttemptedAt,
			State: kilntype.JobStateCompleted, Now: base,
			Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: *j.AttemptedAt,
				Server: "proc", Outcome: kilntype.AttemptSucceeded}}
	}
	return finish
}
