package postgres

import (
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestHotStatementsAllocations counts the process's allocations per job of
// an enqueue, a claim and a batch of completions of 1,000 jobs: the
// array parameters are sent without an allocation per element
// (arrays.go) and a claim's repeated texts share their strings
// (repeatedText). It does not run in parallel: it reads the process's
// allocation count.
func TestHotStatementsAllocations(t *testing.T) {
	s := NewForTest(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	const n = 1000
	ps := noopJobs(now, n, func(int) string { return "" })
	// Warm the insert's statement cache (its first use prepares it), in a
	// queue of its own.
	warm := *ps[0]
	warm.Queue = "warm"
	_, err := s.JobInsertMany(ctx, []*store.JobInsertParams{&warm})
	if err != nil {
		t.Fatal(err)
	}
	perJob := func(f func()) float64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return float64(after.Mallocs-before.Mallocs) / n
	}
	insert := perJob(func() {
		if _, err = s.JobInsertMany(ctx, ps); err != nil {
			t.Fatal(err)
		}
	})
	var claimed []*kilntype.JobRow
	claim := perJob(func() {
		claimed, err = s.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: n, AnyKind: true, LeasedBy: "proc",
			Now: now, LeaseExpiresAt: now.Add(time.Minute)})
	})
	if err != nil || len(claimed) != n {
		t.Fatalf("JobClaim: %d jobs, %v", len(claimed), err)
	}
	ids := make([]int64, n)
	for i, j := range claimed {
		ids[i] = j.ID
	}
	var renewed []int64
	renew := perJob(func() {
		renewed, err = s.JobLeaseRenew(ctx, &store.JobLeaseRenewParams{LeasedBy: "proc", IDs: ids,
			Now: now, LeaseExpiresAt: now.Add(time.Minute)})
	})
	if err != nil || len(renewed) != n {
		t.Fatalf("JobLeaseRenew: %d renewed, %v", len(renewed), err)
	}
	finish := completions(claimed, now)
	var moved []int64
	complete := perJob(func() { moved, err = s.JobFinishMany(ctx, finish) })
	if err != nil || len(moved) != n {
		t.Fatalf("JobFinishMany: %d moved, %v", len(moved), err)
	}
	t.Logf("allocations per job: insert %.2f, claim %.2f, lease renewal %.2f, completion %.2f", insert, claim, renew, complete)
	// Measured: insert 9.1, claim 3.25, completion 0.12. Without the array
	// types the insert's ten text and time arrays cost 10 more per job
	// (19.1) and the completion's five ~7 (6.9); without repeatedText, a
	// claimed row's four repeated texts cost 4 more. A lease renewal of
	// 1,000 jobs: 0.10 per job; 2.86 with its IDs sent as a plain []int64 and
	// each renewed ID scanned through a variable and an argument list of its
	// own.
	for _, c := range []struct {
		name      string
		got, most float64
	}{{"insert", insert, 12}, {"claim", claim, 5}, {"lease renewal", renew, 1}, {"completion", complete, 2}} {
		if c.got > c.most {
			t.Errorf("%s: %.2f allocations per job, want at most %v", c.name, c.got, c.most)
		}
	}
}

// TestCompletionBytes counts the bytes a batch of 500 completions allocates
// per job once the store has completed a batch before: the arrays it sends
// are kept between batches (completeArgsList), so what is left is pgx's
// encoding of the parameters, its buffers and the IDs returned (measured
// 425 bytes per job; 532 with the arrays made for each batch). It does not
// run in parallel: it reads the process's allocation count.
func TestCompletionBytes(t *testing.T) {
	s := NewForTest(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	const n = 500
	ps := make([]*store.JobInsertParams, 2*n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
			State: kilntype.JobStateAvailable, ScheduledAt: now, CreatedAt: now}
	}
	if _, err := s.JobInsertMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	complete := func() uint64 {
		claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: n, Kinds: []string{"noop"},
			LeasedBy: "proc", Now: now, LeaseExpiresAt: now.Add(time.Minute)})
		if err != nil || len(claimed) != n {
			t.Fatalf("JobClaim: %d jobs, %v", len(claimed), err)
		}
		finish := completions(claimed, now)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		moved, err := s.JobFinishMany(ctx, finish)
		runtime.ReadMemStats(&after)
		if err != nil || len(moved) != n {
			t.Fatalf("JobFinishMany: %d moved, %v", len(moved), err)
		}
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	first, second := complete(), complete()
	t.Logf("bytes per job completed: first batch %d, second %d", first, second)
	if second > 500 {
		t.Errorf("a batch of %d completions allocated %d bytes per job, want at most 500", n, second)
	}
}

// TestClaimBytes counts the bytes a claim of 500 jobs allocates per job once
// its statement is prepared: each row is one allocation of 384 bytes (the
// row and its progress), whose attempted_at and lease_expires_at point to
// values that the claim's rows share (jobScanner.shared). Measured 420
// bytes per job; 516 when each row held its four times (480 bytes). It
// does not run in parallel: it reads the process's allocation count.
func TestClaimBytes(t *testing.T) {
	s := NewForTest(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	const n = 500
	if _, err := s.JobInsertMany(ctx, noopJobs(now, 4*n, func(int) string { return "" })); err != nil {
		t.Fatal(err)
	}
	claim := func() uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: n, Kinds: []string{"noop"},
			LeasedBy: "proc", Now: now, LeaseExpiresAt: now.Add(time.Minute)})
		runtime.ReadMemStats(&after)
		if err != nil || len(claimed) != n {
			t.Fatalf("JobClaim: %d jobs, %v", len(claimed), err)
		}
		if claimed[0].AttemptedAt != claimed[n-1].AttemptedAt || claimed[0].LeaseExpiresAt != claimed[n-1].LeaseExpiresAt {
			t.Errorf("the claim's rows point to times of their own")
		}
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	// The fewest of three claims after the first: the count is the whole
	// process's, so another package's goroutines left running (the -race
	// suite's) can add to one claim's count, not to all three.
	first := claim()
	fewest := min(claim(), claim(), claim())
	t.Logf("bytes per job claimed: first claim %d, fewest of the next three %d", first, fewest)
	if fewest > 450 {
		t.Errorf("a claim of %d jobs allocated %d bytes per job, want at most 450", n, fewest)
	}
}

// completions returns the successful outcomes, at now, of the jobs claimed
// (by process "proc").
func completions(claimed []*kilntype.JobRow, now time.Time) []*store.JobFinishParams {
	finish := make([]*store.JobFinishParams, len(claimed))
	for i, j := range claimed {
		finish[i] = &store.JobFinishParams{ID: j.ID, LeasedBy: j.LeasedBy, AttemptedAt: *j.AttemptedAt,
			State: kilntype.JobStateCompleted, Now: now,
			Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: *j.AttemptedAt,
				Server: "proc", Outcome: kilntype.AttemptSucceeded}}
	}
	return finish
}

// TestPartitionClaimAllocations counts the process's allocations per job
// of a claim under a per-key limit (1,000 keys, a job each; since
// 2026-12-06 taken in claim order, sqlPartitionInOrder: 4.11):
// like the plain claim's (TestHotStatementsAllocations), its rows are read
// by one jobScanner, whose repeated texts share their strings, and the
// round's outcome columns after each job are read without an argument
// list of their own. It does not run in parallel: it reads the process's
// allocation count.
func TestPartitionClaimAllocations(t *testing.T) {
	s := NewForTest(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	const n = 1000
	ps := noopJobs(now, n, func(i int) string { return fmt.Sprintf("k%04d", i) })
	if _, err := s.JobInsertMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	params := func(max int) *store.JobClaimParams {
		return &store.JobClaimParams{Queue: "default", Max: max, Kinds: []string{"noop"}, LeasedBy: "proc",
			Now: now, LeaseExpiresAt: now.Add(time.Minute),
			Partitioned: map[string]store.PartitionClaim{"noop": {MaxRunning: 1}}}
	}
	// Warm the round's statements (their first use prepares them) and
	// move the cursor past the first key, so that the measured claim's
	// round takes no job without a key.
	if claimed, err := s.JobClaim(ctx, params(1)); err != nil || len(claimed) != 1 {
		t.Fatalf("JobClaim: %d jobs, %v", len(claimed), err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	claimed, err := s.JobClaim(ctx, params(n-1))
	runtime.ReadMemStats(&after)
	if err != nil || len(claimed) != n-1 {
		t.Fatalf("JobClaim: %d jobs, %v", len(claimed), err)
	}
	perJob := float64(after.Mallocs-before.Mallocs) / (n - 1)
	t.Logf("allocations per job of a claim by key: %.2f", perJob)
	// Measured: 5.12 (the plain claim's 3.30, and the key's own string);
	// 14.11 when each row was read by a jobScanner of its own, without
	// repeated texts, through an argument list made for it.
	if perJob > 6 {
		t.Errorf("claim by key: %.2f allocations per job, want at most 6", perJob)
	}
}

// noopJobs returns the insert params of n available jobs of kind noop in
// queue default, due at now, the i-th with partition key key(i) ("" for
// none).
func noopJobs(now time.Time, n int, key func(i int) string) []*store.JobInsertParams {
	ps := make([]*store.JobInsertParams, n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{"n":1}`), Priority: 1,
			MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: now, CreatedAt: now,
			Partition: key(i)}
	}
	return ps
}

// TestPartitionInOrderClaimFixedCost compares, claim for claim, what an
// in-order claim of a kind capped per key (sqlPartitionInOrder, 1,000 keys
// at a limit of 1) allocates with what a plain claim of as many jobs
// allocates, at the size of the burn-down's claims (100 jobs): the rows
// are read alike, and the claim by key has one allocation per job more,
// the key's own string. What the claim by key adds per claim
// (claimRounds, store.PartitionCursors.ClaimPartitionedKinds, InOrder)
// must stay below the plain claim's own per-claim work: measured 500
// allocations and 49,800 bytes against the plain claim's 407 and 46,808
// before 2026-12-07 (each part of the claim copied the jobs into a slice
// of Max of its own, a claim of no other kind built its params, and a
// cursor that did not move was put in a map), 486 and 46,200 after (under
// the race detector 486 and 49,480, against the plain claim's 407 and
// 48,536). It does not run in parallel: it reads the process's allocation
// count.
func TestPartitionInOrderClaimFixedCost(t *testing.T) {
	s := NewForTest(t)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	const n = 100
	keyed := noopJobs(now, 10*n, func(i int) string { return fmt.Sprintf("k%04d", i) })
	plain := noopJobs(now, 10*n, func(int) string { return "" })
	for _, p := range plain {
		p.Kind = "plain"
	}
	if _, err := s.JobInsertMany(ctx, append(keyed, plain...)); err != nil {
		t.Fatal(err)
	}
	params := func(kind string) *store.JobClaimParams {
		p := &store.JobClaimParams{Queue: "default", Max: n, Kinds: []string{kind}, LeasedBy: "proc",
			Now: now, LeaseExpiresAt: now.Add(time.Minute)}
		if kind == "noop" {
			p.Partitioned = map[string]store.PartitionClaim{"noop": {MaxRunning: 1}}
		}
		return p
	}
	claim := func(kind string) (allocs, bytes uint64) {
		t.Helper()
		p := params(kind)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		claimed, err := s.JobClaim(ctx, p)
		runtime.ReadMemStats(&after)
		if err != nil || len(claimed) != n {
			t.Fatalf("JobClaim of %s: %d jobs, %v", kind, len(claimed), err)
		}
		return after.Mallocs - before.Mallocs, after.TotalAlloc - before.TotalAlloc
	}
	// The first claims prepare the statements; the fewest of the next
	// three of each (the count is the whole process's: another package's
	// goroutines left running can add to one claim's, not to all three).
	claim("noop")
	claim("plain")
	keyedAllocs, keyedBytes, plainAllocs, plainBytes := uint64(math.MaxUint64), uint64(math.MaxUint64), uint64(math.MaxUint64), uint64(math.MaxUint64)
	for range 3 {
		a, b := claim("noop")
		keyedAllocs, keyedBytes = min(keyedAllocs, a), min(keyedBytes, b)
		a, b = claim("plain")
		plainAllocs, plainBytes = min(plainAllocs, a), min(plainBytes, b)
	}
	t.Logf("a claim of %d jobs: by key in claim order %d allocations, %d bytes; plain %d allocations, %d bytes",
		n, keyedAllocs, keyedBytes, plainAllocs, plainBytes)
	// The keys' strings aside (n allocations of at most 16 bytes each:
	// "k0000", which the tiny allocator packs three to a block, one each
	// under the race detector), the claim by key allocates fewer times
	// than the plain claim (which sends one more statement), and no more
	// bytes.
	if int(keyedAllocs)-n > int(plainAllocs)-10 {
		t.Errorf("claim by key: %d allocations, %d beside the keys' strings; want at most the plain claim's %d less 10",
			keyedAllocs, int(keyedAllocs)-n, plainAllocs)
	}
	if keyedBytes > plainBytes+16*n {
		t.Errorf("claim by key: %d bytes; want at most the plain claim's %d and %d for the keys' strings", keyedBytes,
			plainBytes, 16*n)
	}
}
