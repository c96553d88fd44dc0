package storetest

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// keyRateParams claims up to max jobs at now with kind "t" rate limited
// per partition key by def.
func keyRateParams(max int, now time.Time, def kilntype.RateLimit) *store.JobClaimParams {
	p := claimParams("default", max, now)
	p.KeyRateLimits = map[string]kilntype.RateLimit{"t": def}
	return p
}

// claimedPerKey counts the jobs of kind "t" of jobs by partition key.
func claimedPerKey(jobs []*kilntype.JobRow) map[string]int {
	out := map[string]int{}
	for _, j := range jobs {
		if j.Kind == "t" {
			out[j.Partition]++
		}
	}
	return out
}

func testKeyRateLimits(t *testing.T, newStore NewStoreFunc) {
	perSecond := func(n, burst int) kilntype.RateLimit {
		return kilntype.RateLimit{Limit: n, Period: time.Second, Burst: burst}
	}
	t.Run("EachKeyItsBudget", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, k := range []string{"a", "b", "c"} {
			f.insertN(5, kind("t"), partition(k))
		}
		f.insertN(4, kind("t")) // no key: the budget of the key ""
		f.insertN(3, kind("other"), partition("a"))
		def := perSecond(2, 1) // interval 500ms, a bucket of 2
		p := keyRateParams(30, base, def)
		jobs := f.claim(p)
		want := map[string]int{"a": 2, "b": 2, "c": 2, "": 2}
		if got := claimedPerKey(jobs); !maps.Equal(got, want) {
			t.Fatalf("claimed per key %v; want %v (Burst 1 + 1 each)", got, want)
		}
		if got := countKind(jobs, "other"); got != 3 {
			t.Fatalf("claimed %d jobs of a kind without a limit; want 3", got)
		}
		// Each key's budget is spent until one interval (500ms) from now.
		if p.RateWait != 500*time.Millisecond {
			t.Fatalf("RateWait = %v; want 500ms (the keys' next slot)", p.RateWait)
		}
		p = keyRateParams(30, base.Add(499*time.Millisecond), def)
		if got := f.claim(p); len(got) != 0 {
			t.Fatalf("before the next slot, claimed %v", claimedPerKey(got))
		}
		if p.RateWait != time.Millisecond {
			t.Fatalf("RateWait = %v; want 1ms", p.RateWait)
		}
		// The jobs held back stay available, never touched.
		for _, j := range f.list(&store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}, Limit: 100}) {
			if j.Attempt != 0 || j.AttemptedAt != nil {
				t.Fatalf("held-back job %d was attempted: %+v", j.ID, j)
			}
		}
		want = map[string]int{"a": 1, "b": 1, "c": 1, "": 1}
		if got := claimedPerKey(f.claim(keyRateParams(30, base.Add(500*time.Millisecond), def))); !maps.Equal(got, want) {
			t.Fatalf("at the next slot, claimed per key %v; want %v", got, want)
		}
		// A claim without KeyRateLimits does not limit the kind per key.
		if got := countKind(f.claim(claimParams("default", 30, base.Add(500*time.Millisecond))), "t"); got != 19-12 {
			t.Fatalf("a claim without KeyRateLimits took %d jobs of t; want the %d left", got, 19-12)
		}
	})
	t.Run("JobsWithoutKeyNotStarved", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(40, kind("t"), partition("a"))
		f.insertN(1, kind("t")) // no key: the budget of the key ""
		// Claims of one job, which a's backlog alone could fill: the job
		// without a key is claimed within store.PartitionWalkEvery claims
		// (the rotation over keys visits the jobs without a key first, a
		// claim in fair order looks for them every PartitionWalkEvery-th
		// claim), within the budget of the key "".
		for i := range store.PartitionWalkEvery {
			p := keyRateParams(1, base, perSecond(100, 100))
			jobs := f.claim(p)
			if p.RateWait != 0 {
				t.Fatalf("claim %d: RateWait = %v; want 0 (no budget held a job back)", i+1, p.RateWait)
			}
			if len(jobs) != 1 {
				t.Fatalf("claim %d of one job took %v", i+1, claimedPerKey(jobs))
			}
			if jobs[0].Partition == "" {
				return
			}
		}
		t.Fatalf("the job without a key was not claimed in %d claims of one job", store.PartitionWalkEvery)
	})

	t.Run("SpentKeysDoNotBlockOthers", func(t *testing.T) {
		f := newFixture(t, newStore)
		hourly := kilntype.RateLimit{Limit: 1, Period: time.Hour}
		// One key with a backlog, enqueued first, and others behind it.
		f.insertN(100, kind("t"), partition("a"))
		for _, k := range []string{"b", "c", "d", "e", "f"} {
			f.insertN(2, kind("t"), partition(k))
		}
		var got []string
		for range 3 {
			for _, j := range f.claim(keyRateParams(2, base, hourly)) {
				got = append(got, j.Partition)
			}
		}
		slices.Sort(got)
		if want := []string{"a", "b", "c", "d", "e", "f"}; !slices.Equal(got, want) {
			t.Fatalf("three claims of 2 took keys %v; want %v (one job of each key)", got, want)
		}
		// Many spent keys before the one with room: a claim of one job
		// passes over them all.
		for i := range 40 {
			f.insertN(2, kind("t"), partition(fmt.Sprintf("k%02d", i)))
		}
		if got := f.claim(keyRateParams(40, base, hourly)); len(got) != 40 {
			t.Fatalf("claimed %d of 40 fresh keys' first jobs", len(got))
		}
		f.insertN(1, kind("t"), partition("k35a"))
		p := keyRateParams(1, base.Add(time.Minute), hourly)
		jobs := f.claim(p)
		if len(jobs) != 1 || jobs[0].Partition != "k35a" {
			t.Fatalf("with 42 spent keys before k35a, a claim of 1 took %v; want k35a's job", claimedPerKey(jobs))
		}
		if p.RateWait <= 0 || p.RateWait > time.Hour-time.Minute {
			t.Fatalf("RateWait = %v; want the spent keys' next slot, at most 59m away", p.RateWait)
		}
		if got := f.claim(keyRateParams(100, base.Add(time.Minute), hourly)); len(got) != 0 {
			t.Fatalf("every key spent, yet a claim took %v", claimedPerKey(got))
		}
	})
	t.Run("NextEligibleTime", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(3, kind("t"), partition("a"))
		def := perSecond(1, 0)
		f.claim(keyRateParams(10, base, def)) // a spent until base+1s
		f.insertN(3, kind("t"), partition("b"))
		p := keyRateParams(10, base.Add(300*time.Millisecond), def)
		jobs := f.claim(p)
		if got := claimedPerKey(jobs); !maps.Equal(got, map[string]int{"b": 1}) {
			t.Fatalf("at 300ms claimed %v; want b:1", got)
		}
		// a's next slot (1s) comes before b's (1.3s).
		if p.RateWait != 700*time.Millisecond {
			t.Fatalf("RateWait = %v; want 700ms (a's next slot)", p.RateWait)
		}
		rows, err := f.s.RateLimitList(f.ctx, &store.RateLimitListParams{Kinds: []string{"t"}, Now: base})
		if err != nil {
			t.Fatalf("RateLimitList: %v", err)
		}
		if len(rows) != 2 || rows[0].PerKey || !rows[1].PerKey {
			t.Fatalf("RateLimitList(t) = %+v; want t's rows, per kind then per key", rows)
		}
		wantTime(t, "per-key TAT (the busiest key's)", rows[1].TAT, base.Add(1300*time.Millisecond))
		if !rows[0].TAT.IsZero() {
			t.Errorf("the kind's own TAT = %v; want none (no per-kind limit)", rows[0].TAT)
		}
		if got := claimedPerKey(f.claim(keyRateParams(10, base.Add(time.Second), def))); !maps.Equal(got, map[string]int{"a": 1}) {
			t.Fatalf("at 1s claimed %v; want a:1", got)
		}
	})
	t.Run("RunTimeChange", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, k := range []string{"a", "b"} {
			f.insertN(10, kind("t"), partition(k))
		}
		def := kilntype.RateLimit{Limit: 1, Period: time.Hour}
		claimAt := func(at time.Duration) map[string]int {
			p := keyRateParams(20, base.Add(at), def)
			p.RateLimits = map[string]kilntype.RateLimit{"t": {}} // a per-kind override only
			return claimedPerKey(f.claim(p))
		}
		set := func(perKey bool, l kilntype.RateLimit) {
			if err := f.s.RateLimitSet(f.ctx, &store.RateLimitSetParams{Kind: "t", PerKey: perKey, Limit: l, Now: base}); err != nil {
				t.Fatalf("RateLimitSet: %v", err)
			}
		}
		one := map[string]int{"a": 1, "b": 1}
		if got := claimAt(0); !maps.Equal(got, one) {
			t.Fatalf("1/h per key: claimed %v; want %v", got, one)
		}
		if got := claimAt(time.Millisecond); len(got) != 0 {
			t.Fatalf("1/h per key, 1ms later: claimed %v", got)
		}
		// Raised at run time: each key's hour of debt is cut to the new
		// limit's bucket (100ms), so the next slot is 100ms away.
		set(true, perSecond(10, 0))
		if got := claimAt(99 * time.Millisecond); len(got) != 0 {
			t.Fatalf("10/s per key, 99ms after a start: claimed %v", got)
		}
		if got := claimAt(100 * time.Millisecond); !maps.Equal(got, one) {
			t.Fatalf("10/s per key at 100ms: claimed %v; want %v", got, one)
		}
		// The kind's own limit is apart: setting it leaves the keys'.
		set(false, perSecond(1, 0))
		if got := claimAt(200 * time.Millisecond); len(got) != 1 {
			t.Fatalf("1/s for the kind and 10/s per key at 200ms: claimed %v; want one job", got)
		}
		if err := f.s.RateLimitDelete(f.ctx, "t", false); err != nil {
			t.Fatalf("RateLimitDelete(per kind): %v", err)
		}
		if got := claimAt(300 * time.Millisecond); !maps.Equal(got, one) {
			t.Fatalf("10/s per key at 300ms: claimed %v", got)
		}
		// Removed: the default applies again to the debt as it stands.
		if err := f.s.RateLimitDelete(f.ctx, "t", true); err != nil {
			t.Fatalf("RateLimitDelete(per key): %v", err)
		}
		if err := f.s.RateLimitDelete(f.ctx, "t", true); !errors.Is(err, kilntype.ErrNotFound) {
			t.Fatalf("second RateLimitDelete = %v; want ErrNotFound", err)
		}
		if got := claimAt(time.Second); !maps.Equal(got, one) {
			t.Fatalf("1/h per key again, 1s on: claimed %v; want %v (the debt was 100ms)", got, one)
		}
		if got := claimAt(30 * time.Minute); len(got) != 0 {
			t.Fatalf("1/h per key, 30m on: claimed %v", got)
		}
		// An override applies to a kind listed without a default.
		def = kilntype.RateLimit{}
		set(true, kilntype.RateLimit{Limit: 1, Period: time.Hour, Burst: 1})
		if got := claimAt(2 * time.Hour); !maps.Equal(got, map[string]int{"a": 2, "b": 2}) {
			t.Fatalf("override 1/h+1 per key only: claimed %v; want 2 of each key", got)
		}
	})
	t.Run("BothLimitsHold", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, k := range []string{"a", "b", "c"} {
			f.insertN(5, kind("t"), partition(k))
		}
		perKind, perKey := perSecond(1, 2), perSecond(1, 1) // buckets of 3 and of 2
		claimAt := func(at time.Duration) map[string]int {
			p := keyRateParams(20, base.Add(at), perKey)
			p.RateLimits = map[string]kilntype.RateLimit{"t": perKind}
			return claimedPerKey(f.claim(p))
		}
		got := claimAt(0)
		total := 0
		for k, n := range got {
			total += n
			if n > 2 {
				t.Fatalf("key %s got %d; its bucket holds 2", k, n)
			}
		}
		if total != 3 {
			t.Fatalf("claimed %v; want 3 in all (the kind's bucket)", got)
		}
		if got := claimAt(time.Second); len(got) != 1 {
			t.Fatalf("1s later: claimed %v; want one job (the kind's 1/s)", got)
		}
	})
	t.Run("NeverOverLimitPerPeriodPerKey", func(t *testing.T) {
		f := newFixture(t, newStore)
		const n = 3
		limit := kilntype.RateLimit{Limit: n, Period: 10 * time.Second}
		keys := []string{"", "a", "b", "c", "d"}
		for _, k := range keys {
			f.insertN(25, kind("t"), partition(k))
		}
		f.insertN(25, kind("other"), partition("a"))
		rng := rand.New(rand.NewPCG(3, 4))
		starts := map[string][]time.Time{}
		now := base
		for range 300 {
			now = now.Add(time.Duration(rng.IntN(2500)) * time.Millisecond)
			for _, j := range f.claim(keyRateParams(1+rng.IntN(8), now, limit)) {
				if j.Kind == "t" {
					starts[j.Partition] = append(starts[j.Partition], *j.AttemptedAt)
				}
			}
		}
		for _, k := range keys {
			if len(starts[k]) < 15 {
				t.Fatalf("key %q: only %d starts in %v: its budget does not refill, or other keys block it", k, len(starts[k]), now.Sub(base))
			}
			if most := maxInWindow(starts[k], limit.Period); most > n {
				t.Fatalf("key %q: %d starts within %v; want at most %d", k, most, limit.Period, n)
			}
		}
	})
	t.Run("ConcurrentClaimsShareEachKeyBudget", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, k := range []string{"a", "b"} {
			f.insertN(10, kind("t"), partition(k))
		}
		limit := perSecond(1, 2)
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			claimed []*kilntype.JobRow
		)
		for i := range 8 {
			wg.Go(func() {
				p := keyRateParams(3, base, limit)
				p.LeasedBy = []string{procA, procB}[i%2]
				jobs, err := f.s.JobClaim(f.ctx, p)
				if err != nil {
					t.Errorf("JobClaim: %v", err)
					return
				}
				mu.Lock()
				claimed = append(claimed, jobs...)
				mu.Unlock()
			})
		}
		wg.Wait()
		if got, want := claimedPerKey(claimed), map[string]int{"a": 3, "b": 3}; !maps.Equal(got, want) {
			t.Fatalf("8 concurrent claims took %v; want %v (Burst 2 + 1 per key)", got, want)
		}
	})
}
