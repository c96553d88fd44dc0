package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// partitioned returns claim params of queue "default" at base that take
// kind "t" by partition key, capped at maxRunning per key (0: fair only).
func partitioned(max, maxRunning int) *store.JobClaimParams {
	p := claimParams("default", max, base)
	p.AnyKind = false
	p.Kinds = []string{"t", "other"}
	p.Partitioned = map[string]store.PartitionClaim{"t": {MaxRunning: maxRunning}}
	return p
}

// perKey counts jobs by partition key.
func perKey(jobs []*kilntype.JobRow) map[string]int {
	out := map[string]int{}
	for _, j := range jobs {
		out[j.Partition]++
	}
	return out
}

// runningPerKey counts the running jobs of kind "t" per key, from JobList.
func (f *fixture) runningPerKey() map[string]int {
	f.t.Helper()
	return perKey(f.list(&store.JobListParams{States: []kilntype.JobState{kilntype.JobStateRunning},
		Kinds: []string{"t"}, Limit: 10_000}))
}

func testClaimPartitioned(t *testing.T, newStore NewStoreFunc) {
	t.Run("PerKeyLimit", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, k := range []string{"a", "b", "c"} {
			f.insertN(5, kind("t"), partition(k))
		}
		f.insertN(3, kind("t")) // no key: not capped
		f.insertN(2, kind("other"), partition("a"))
		jobs := f.claim(partitioned(20, 2))
		got := perKey(jobs)
		if got["a"] != 2+2 || got["b"] != 2 || got["c"] != 2 || got[""] != 3 || len(jobs) != 11 {
			// "a" holds 2 jobs of "t" and the 2 of "other", which has no limit.
			t.Fatalf("claimed per key %v (%d jobs); want a:4 (2 of t), b:2, c:2, \"\":3", got, len(jobs))
		}
		if again := f.claim(partitioned(20, 2)); countKind(again, "t") != 0 {
			t.Fatalf("with every key at its limit, a claim took %v", perKey(again))
		}
		// A finished job frees its key's slot, and only that one.
		var b *kilntype.JobRow
		for _, j := range jobs {
			if j.Partition == "b" && j.Kind == "t" {
				b = j
			}
		}
		f.finish(finishParams(b, kilntype.JobStateCompleted, base))
		if got := f.claim(partitioned(20, 2)); len(got) != 1 || got[0].Partition != "b" {
			t.Fatalf("after a b job finished, claim = %v; want one b job", perKey(got))
		}
	})

	t.Run("PerKeyLimitUnderConcurrentClaims", func(t *testing.T) {
		f := newFixture(t, newStore)
		const keys, perKeyJobs, limit = 12, 6, 2
		for k := range keys {
			f.insertN(perKeyJobs, kind("t"), partition(fmt.Sprintf("k%02d", k)))
		}
		done := 0
		for wave := 0; done < keys*perKeyJobs; wave++ {
			if wave > 100 {
				t.Fatalf("%d of %d jobs done after 100 waves", done, keys*perKeyJobs)
			}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				claimed []*kilntype.JobRow
			)
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					jobs, err := f.s.JobClaim(f.ctx, partitioned(5, limit))
					if err != nil {
						t.Errorf("JobClaim: %v", err)
					}
					mu.Lock()
					claimed = append(claimed, jobs...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			running := f.runningPerKey()
			for k, n := range running {
				if n > limit {
					t.Fatalf("wave %d: key %q has %d jobs running; limit %d", wave, k, n, limit)
				}
			}
			if len(claimed) == 0 {
				// Work-conserving: nothing claimed only when every key with
				// jobs waiting is at its limit.
				waiting := perKey(f.list(&store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}, Limit: 10_000}))
				for k := range waiting {
					if running[k] < limit {
						t.Fatalf("wave %d: no job claimed, yet key %q has jobs waiting and %d running (limit %d)", wave, k, running[k], limit)
					}
				}
			}
			// Finish half of them (the others keep their slot).
			var ps []*store.JobFinishParams
			for i, j := range claimed {
				if i%2 == 0 || wave%3 == 2 {
					ps = append(ps, finishParams(j, kilntype.JobStateCompleted, base))
				}
			}
			done += len(f.finish(ps...))
			// Finish the rest every third wave, or when nothing was claimed.
			if wave%3 == 2 || len(claimed) == 0 {
				running := f.list(&store.JobListParams{States: []kilntype.JobState{kilntype.JobStateRunning}, Limit: 10_000})
				ps = ps[:0]
				for _, j := range running {
					ps = append(ps, finishParams(j, kilntype.JobStateCompleted, base))
				}
				done += len(f.finish(ps...))
			}
		}
	})

	t.Run("FairnessBound", func(t *testing.T) {
		f := newFixture(t, newStore)
		// Key "a" has a large backlog, enqueued first; key "b" has 10.
		const backlog, claimSize = 20_000, 10
		for range backlog / 1000 {
			f.insertN(1000, kind("t"), partition("a"))
		}
		f.insertN(10, kind("t"), partition("b"))
		// Both keys have due jobs (E = 2) and each claim takes M = 10: a
		// key waits at most ceil(E/M) = 1 claim, so every claim takes a b
		// job while b has one left, and all of b's are taken within
		// 10 claims (in fact 2: the second rotation shares what is left).
		claimWithin(t, f, claimSize, 0, "b", 10, 1)
	})

	t.Run("FairnessBoundUnderLimit", func(t *testing.T) {
		f := newFixture(t, newStore)
		// As FairnessBound, under a per-key limit (50) that never binds
		// (every claim's 10 jobs finish before the next): a store that
		// claims a capped kind in claim order first (PostgreSQL:
		// store.PartitionInOrder) takes the front key's backlog between
		// its claims by key in rotation, one in every
		// store.PartitionWalkEvery, so the documented bound
		// (docs/flow-control.md) is PartitionWalkEvery × ceil(E/M) claims
		// between two jobs of a key with room: with E = 2 and M = 10, 16.
		// (PostgreSQL fails a bound of ceil(E/M) = 1 here; SQLite, which
		// claims capped kinds in fair order, meets it: store/sqlite's
		// TestFairBoundUnderLimit.)
		const backlog, claimSize, limit = 2_000, 10, 50
		f.insertN(backlog, kind("t"), partition("a"))
		f.insertN(10, kind("t"), partition("b"))
		claimWithin(t, f, claimSize, limit, "b", 10, store.PartitionWalkEvery*((2+claimSize-1)/claimSize))
	})

	t.Run("HotKeyAtFrontUnderLimit", func(t *testing.T) {
		f := newFixture(t, newStore)
		// Key "a" has 300 jobs at the front of the claim order, more than
		// a claim of 10 reads in claim order (four times the jobs it
		// wants, at least 64: store.PartitionInOrder), then 9 keys have
		// one job each. Under a limit of 1, a claim that took the jobs of
		// keys with room in claim order alone would take one "a" job; it
		// goes on by key in rotation for the rest, and takes one job of
		// every key.
		f.insertN(300, kind("t"), partition("a"))
		for k := range 9 {
			f.insertN(1, kind("t"), partition(fmt.Sprintf("k%d", k)))
		}
		jobs := f.claim(partitioned(10, 1))
		if got := perKey(jobs); len(jobs) != 10 || len(got) != 10 {
			t.Fatalf("claimed %v (%d jobs); want one job of each of the 10 keys", got, len(jobs))
		}
		if again := f.claim(partitioned(10, 1)); countKind(again, "t") != 0 {
			t.Fatalf("with every key at its limit, a claim took %v", perKey(again))
		}
	})

	t.Run("JobWithoutKeyBehindDeepBacklog", func(t *testing.T) {
		f := newFixture(t, newStore)
		// Key "a" has 300 jobs, at its limit of 1 from the first claim on
		// (none finishes); one job without a key (not capped) is enqueued
		// behind them, 300 deep in claim order, far past the first window
		// of jobs a claim looks among for jobs without a key
		// (PartitionRound.Window: 64 for a claim of 10). Each claim looks
		// one more window deeper (store.PartitionCursors.SetUnkeyed), so
		// the job is claimed within ceil(300 / 64) = 5 claims, where it
		// waited until fewer than 64 "a" jobs were ahead of it.
		const backlog, claimSize = 300, 10
		f.insertN(backlog, kind("t"), partition("a"))
		f.insertN(1, kind("t"))
		a := 0
		for n := 1; ; n++ {
			if n > 5 {
				t.Fatalf("the job without a key still waits after 5 claims (claimed %d of key a, limit 1)", a)
			}
			got := perKey(f.claim(partitioned(claimSize, 1)))
			if a += got["a"]; a > 1 {
				t.Fatalf("claim %d: %d jobs of key a running; limit 1", n, a)
			}
			if got[""] == 1 {
				break
			}
		}
		if a != 1 {
			t.Fatalf("claimed %d jobs of key a; want 1 (its limit)", a)
		}
	})

	t.Run("RotatesAcrossClaims", func(t *testing.T) {
		f := newFixture(t, newStore)
		const keys = 30
		for k := range keys {
			f.insertN(3, kind("t"), partition(fmt.Sprintf("k%02d", k)))
		}
		// Claims of 10 jobs, one per key: 3 claims visit every key once.
		seen := map[string]int{}
		for range 3 {
			for k, n := range perKey(f.claim(partitioned(10, 0))) {
				seen[k] += n
			}
		}
		if len(seen) != keys {
			t.Fatalf("3 claims of 10 visited %d keys; want all %d once: %v", len(seen), keys, seen)
		}
		for k, n := range seen {
			if n != 1 {
				t.Errorf("key %s: %d jobs in the first rotation; want 1", k, n)
			}
		}
	})

	t.Run("SharesInClaimOrderWithAnyKey", func(t *testing.T) {
		f := newFixture(t, newStore)
		// Keys that JSON, SQL or a path would have to escape, each with 6
		// jobs due 6, 5, ... 1 minutes ago, inserted one at a time in that
		// order. Within a key, jobs run in the order they became available
		// (on SQLite, whose claims of kinds claimed by key follow the fair
		// order given at enqueue) or in claim order (priority, then
		// schedule: PostgreSQL); inserted in schedule order, both are the
		// same (docs/flow-control.md).
		keys := []string{`a"b`, `c\d`, "é ü", "$.x[0]", "'; --"}
		for _, k := range keys {
			for m := 6; m >= 1; m-- {
				f.insertN(1, kind("t"), partition(k), scheduledAt(base.Add(-time.Duration(m)*time.Minute)))
			}
		}
		// rank is a job's place in its key's claim order, from 1.
		rank := func(j *kilntype.JobRow) int { return 7 - int(base.Sub(j.ScheduledAt)/time.Minute) }
		// A claim of 15 takes one job per key, then shares the other 10
		// equally: 3 per key, each key's first 3 in claim order.
		jobs := f.claim(partitioned(15, 0))
		got := map[string][]int{}
		for _, j := range jobs {
			got[j.Partition] = append(got[j.Partition], rank(j))
		}
		for _, k := range keys {
			if fmt.Sprint(got[k]) != "[1 2 3]" {
				t.Errorf("key %q: claimed the jobs of ranks %v in claim order; want [1 2 3] (%d jobs in all)", k, got[k], len(jobs))
			}
		}
		// Under a limit of 4 per key, the next claim takes each key's 4th.
		jobs = f.claim(partitioned(15, 4))
		got = map[string][]int{}
		for _, j := range jobs {
			got[j.Partition] = append(got[j.Partition], rank(j))
		}
		for _, k := range keys {
			if fmt.Sprint(got[k]) != "[4]" {
				t.Errorf("key %q, limit 4 with 3 running: claimed the jobs of ranks %v; want [4]", k, got[k])
			}
		}
	})

	t.Run("PausedQueueAndOtherKinds", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(3, kind("t"), partition("a"))
		f.insertN(2, kind("other"))
		f.insertN(2, kind("ignored"), partition("a"))
		jobs := f.claim(partitioned(10, 1))
		if countKind(jobs, "t") != 1 || countKind(jobs, "other") != 2 || len(jobs) != 3 {
			t.Fatalf("claimed %d t, %d other of %d; want 1 t (limit 1), 2 other, no ignored", countKind(jobs, "t"), countKind(jobs, "other"), len(jobs))
		}
		f.insertN(2, kind("t"), partition("b"))
		if err := f.s.QueuePause(f.ctx, &store.QueuePauseParams{Name: "default", Paused: true, Now: base}); err != nil {
			t.Fatal(err)
		}
		if got := f.claim(partitioned(10, 1)); len(got) != 0 {
			t.Fatalf("a paused queue gave %d jobs", len(got))
		}
	})
}

// claimWithin claims up to want jobs of kind "t" under a per-key limit of
// maxRunning (partitioned), each claim's jobs completed before the next,
// until the left jobs of key are taken, and fails the test when a claim
// takes fewer than want jobs (a claim is work-conserving while jobs are
// due) or when bound claims in a row take none of key's.
func claimWithin(t *testing.T, f *fixture, want, maxRunning int, key string, left, bound int) {
	t.Helper()
	since := 0
	for n := 1; left > 0; n++ {
		jobs := f.claim(partitioned(want, maxRunning))
		if len(jobs) != want {
			t.Fatalf("claim %d took %d jobs; want %d (work-conserving)", n, len(jobs), want)
		}
		since++
		if got := perKey(jobs)[key]; got > 0 {
			left -= got
			since = 0
		} else if since >= bound {
			t.Fatalf("claims %d to %d took no %s job with %d waiting (bound: %d claims)", n-since+1, n, key, left, bound)
		}
		var ps []*store.JobFinishParams
		for _, j := range jobs {
			ps = append(ps, finishParams(j, kilntype.JobStateCompleted, base))
		}
		f.finish(ps...)
	}
}
