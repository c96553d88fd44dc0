package storetest

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// rateParams claims up to max jobs at now with kind k rate limited by def.
func rateParams(max int, now time.Time, k string, def kilntype.RateLimit) *store.JobClaimParams {
	p := claimParams("default", max, now)
	p.RateLimits = map[string]kilntype.RateLimit{k: def}
	return p
}

// maxInWindow returns the most of starts (sorted) within any half-open
// window of length period.
func maxInWindow(starts []time.Time, period time.Duration) int {
	most, lo := 0, 0
	for hi := range starts {
		for !starts[hi].Before(starts[lo].Add(period)) {
			lo++
		}
		most = max(most, hi-lo+1)
	}
	return most
}

func testRateLimits(t *testing.T, newStore NewStoreFunc) {
	perSecond := func(n, burst int) kilntype.RateLimit {
		return kilntype.RateLimit{Limit: n, Period: time.Second, Burst: burst}
	}
	t.Run("TakesTheAllowanceOnly", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(10, kind("limited"))
		f.insertN(3, kind("free"))
		p := rateParams(10, base, "limited", perSecond(4, 2))
		jobs := f.claim(p)
		if got := countKind(jobs, "limited"); got != 3 {
			t.Fatalf("claimed %d limited jobs; want 3 (Burst 2 + 1)", got)
		}
		if got := countKind(jobs, "free"); got != 3 {
			t.Fatalf("claimed %d free jobs; want 3 (not limited)", got)
		}
		// The budget is spent until one interval (250ms) past base+500ms.
		if p.RateWait != 250*time.Millisecond {
			t.Fatalf("RateWait = %v; want 250ms (one interval, the next slot)", p.RateWait)
		}
		p = rateParams(10, base.Add(249*time.Millisecond), "limited", perSecond(4, 2))
		if got := f.claim(p); len(got) != 0 {
			t.Fatalf("before the next slot, claimed %v", ids(got))
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
		if got := f.claim(rateParams(10, base.Add(250*time.Millisecond), "limited", perSecond(4, 2))); len(got) != 1 {
			t.Fatalf("at the next slot, claimed %d; want 1", len(got))
		}
	})
	t.Run("NeverOverLimitPerPeriod", func(t *testing.T) {
		f := newFixture(t, newStore)
		const n = 5
		limit := kilntype.RateLimit{Limit: n, Period: 10 * time.Second}
		f.insertN(60, kind("limited"))
		rng := rand.New(rand.NewPCG(1, 2))
		var starts []time.Time
		now := base
		for range 400 {
			now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
			for _, j := range f.claim(rateParams(1+rng.IntN(8), now, "limited", limit)) {
				starts = append(starts, *j.AttemptedAt)
			}
		}
		if len(starts) < 40 {
			t.Fatalf("only %d starts in %v: the budget does not refill", len(starts), now.Sub(base))
		}
		if most := maxInWindow(starts, limit.Period); most > n {
			t.Fatalf("%d starts within %v; want at most %d", most, limit.Period, n)
		}
	})
	t.Run("BurstAndRefill", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(40, kind("limited"))
		limit := perSecond(2, 3) // interval 500ms, bucket of 4
		claimAt := func(at time.Duration) int {
			return len(f.claim(rateParams(40, base.Add(at), "limited", limit)))
		}
		if got := claimAt(0); got != 4 {
			t.Fatalf("first claim took %d; want 4 (Burst 3 + 1)", got)
		}
		if got := claimAt(time.Second); got != 2 {
			t.Fatalf("1s later a claim took %d; want 2 (refilled at 2/s)", got)
		}
		// Idle far longer than the bucket takes to fill: never more than
		// Burst+1 at once.
		if got := claimAt(time.Hour); got != 4 {
			t.Fatalf("after an hour idle a claim took %d; want 4", got)
		}
	})
	t.Run("ConcurrentClaimsShareOneBudget", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(40, kind("limited"))
		limit := perSecond(5, 4)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			total int
		)
		for i := range 8 {
			wg.Go(func() {
				p := rateParams(5, base, "limited", limit)
				p.LeasedBy = []string{procA, procB}[i%2]
				jobs, err := f.s.JobClaim(f.ctx, p)
				if err != nil {
					t.Errorf("JobClaim: %v", err)
					return
				}
				mu.Lock()
				total += len(jobs)
				mu.Unlock()
			})
		}
		wg.Wait()
		if total != 5 {
			t.Fatalf("8 concurrent claims took %d jobs; want 5 (Burst 4 + 1)", total)
		}
	})
	t.Run("RunTimeOverride", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(40, kind("limited"))
		def := perSecond(1, 0)
		claimAt := func(at time.Duration) int {
			return len(f.claim(rateParams(40, base.Add(at), "limited", def)))
		}
		set := func(l kilntype.RateLimit) {
			if err := f.s.RateLimitSet(f.ctx, &store.RateLimitSetParams{Kind: "limited", Limit: l, Now: base}); err != nil {
				t.Fatalf("RateLimitSet: %v", err)
			}
		}
		set(perSecond(10, 2))
		if got := claimAt(0); got != 3 {
			t.Fatalf("with override 10/s+2, claimed %d; want 3", got)
		}
		// Changed at run time: the next claim obeys. The starts already
		// counted are a debt of time (300ms at 10/s), which the new limit
		// keeps: 300ms of 1s at 1/s+5 leaves 5 starts.
		set(perSecond(1, 5))
		if got := claimAt(0); got != 5 {
			t.Fatalf("with override 1/s+5 after 300ms of debt, claimed %d; want 5", got)
		}
		if err := f.s.RateLimitDelete(f.ctx, "limited", false); err != nil {
			t.Fatalf("RateLimitDelete: %v", err)
		}
		if err := f.s.RateLimitDelete(f.ctx, "limited", false); !errors.Is(err, kilntype.ErrNotFound) {
			t.Fatalf("second RateLimitDelete = %v; want ErrNotFound", err)
		}
		// The default in code applies again: 1/s, one at a time; the
		// budget's debt (until 5.3s) is kept.
		if got := claimAt(5 * time.Second); got != 0 {
			t.Fatalf("default 1/s after 6 starts at 0s: claimed %d at 5s; want 0", got)
		}
		if got := claimAt(6 * time.Second); got != 1 {
			t.Fatalf("default 1/s: claimed %d at 6s; want 1", got)
		}
		// An override applies to a kind listed without a default; a kind
		// not listed is not limited by the claim at all.
		def = kilntype.RateLimit{}
		set(perSecond(1, 1))
		if got := claimAt(time.Hour); got != 2 {
			t.Fatalf("override only: claimed %d; want 2", got)
		}
		p := claimParams("default", 5, base.Add(time.Hour))
		if got := f.claim(p); len(got) != 5 {
			t.Fatalf("claim without RateLimits took %d; want 5", len(got))
		}
		if p.RateWait != 0 {
			t.Fatalf("claim without RateLimits: RateWait = %v; want 0", p.RateWait)
		}
	})
	t.Run("RaisedLimitAppliesAtOnce", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(10, kind("limited"))
		def := kilntype.RateLimit{Limit: 1, Period: time.Hour}
		claimAt := func(at time.Duration) int {
			return len(f.claim(rateParams(10, base.Add(at), "limited", def)))
		}
		if got := claimAt(0); got != 1 {
			t.Fatalf("1/h: claimed %d; want 1", got)
		}
		// An hour of debt at 1/h; at 10/s the bucket is one start (100ms).
		if err := f.s.RateLimitSet(f.ctx, &store.RateLimitSetParams{Kind: "limited",
			Limit: perSecond(10, 0), Now: base}); err != nil {
			t.Fatalf("RateLimitSet: %v", err)
		}
		if got := claimAt(0); got != 0 {
			t.Fatalf("10/s right after a start: claimed %d; want 0", got)
		}
		if got := claimAt(100 * time.Millisecond); got != 1 {
			t.Fatalf("10/s, 100ms later: claimed %d; want 1 (not an hour later)", got)
		}
		if got := claimAt(200 * time.Millisecond); got != 1 {
			t.Fatalf("10/s, 200ms later: claimed %d; want 1", got)
		}
	})
	t.Run("SetValidates", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, p := range []*store.RateLimitSetParams{
			{Kind: "", Limit: perSecond(1, 0)},
			{Kind: "k", Limit: kilntype.RateLimit{}},
			{Kind: "k", Limit: kilntype.RateLimit{Limit: 1}},
			{Kind: "k", Limit: perSecond(1, -1)},
		} {
			p.Now = base
			var ve *kilntype.ValidationError
			if err := f.s.RateLimitSet(f.ctx, p); !errors.As(err, &ve) {
				t.Errorf("RateLimitSet(%+v) = %v; want a ValidationError", p, err)
			}
		}
	})
	t.Run("List", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(3, kind("b"))
		if err := f.s.RateLimitSet(f.ctx, &store.RateLimitSetParams{Kind: "a", Limit: perSecond(7, 1), Now: base}); err != nil {
			t.Fatalf("RateLimitSet: %v", err)
		}
		if err := f.s.RateLimitSet(f.ctx, &store.RateLimitSetParams{Kind: "a", PerKey: true, Limit: perSecond(2, 0), Now: base}); err != nil {
			t.Fatalf("RateLimitSet: %v", err)
		}
		f.claim(rateParams(3, base, "b", perSecond(1, 2)))
		rows, err := f.s.RateLimitList(f.ctx, &store.RateLimitListParams{Now: base})
		if err != nil {
			t.Fatalf("RateLimitList: %v", err)
		}
		type row struct {
			kind     string
			perKey   bool
			override string
			tat      int64 // Unix microseconds; 0: none
		}
		var got []row
		for _, r := range rows {
			o := "none"
			if r.Override != nil {
				o = r.Override.String()
			}
			var tat int64
			if !r.TAT.IsZero() {
				tat = r.TAT.UnixMicro()
			}
			got = append(got, row{r.Kind, r.PerKey, o, tat})
			if r.Override != nil && (r.UpdatedAt == nil || !r.UpdatedAt.Equal(base)) {
				t.Errorf("%s: UpdatedAt = %v; want %v", r.Kind, r.UpdatedAt, base)
			}
			wantTime(t, "Now", r.Now, base)
		}
		want := []row{
			{"a", false, "7/1s+1", 0},
			{"a", true, "2/1s", 0},
			{"b", false, "none", base.Add(3 * time.Second).UnixMicro()},
		}
		if !slices.Equal(got, want) {
			t.Fatalf("RateLimitList = %+v; want %+v", got, want)
		}
		rows, err = f.s.RateLimitList(f.ctx, &store.RateLimitListParams{Kinds: []string{"b", "c"}, Now: base})
		if err != nil {
			t.Fatalf("RateLimitList: %v", err)
		}
		if len(rows) != 4 || rows[0].Kind != "b" || rows[0].PerKey || !rows[1].PerKey || rows[2].Kind != "c" ||
			rows[3].Kind != "c" || rows[2].PerKey || !rows[3].PerKey {
			t.Fatalf("RateLimitList(b, c) = %+v; want the rows of b and c, per kind then per key", rows)
		}
		for _, r := range rows[1:] {
			if r.Override != nil || !r.TAT.IsZero() {
				t.Fatalf("RateLimitList(b, c): %+v; want an empty row", r)
			}
		}
	})
}
