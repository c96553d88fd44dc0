package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// rateGuardLimits are limits at the ends of kilntype.RateLimit's ranges:
// Burst 0, 1 and 2^30, intervals of a microsecond and of
// kilntype.MaxRateLimitPeriod, a Period that Limit does not divide, and
// Bursts below and above the claims' Max.
var rateGuardLimits = []kilntype.RateLimit{
	{Limit: 1, Period: time.Microsecond},
	{Limit: 1 << 30, Period: time.Microsecond, Burst: 1 << 30},
	{Limit: 3, Period: 7 * time.Microsecond, Burst: 1},
	{Limit: 1000, Period: time.Second, Burst: 2},
	{Limit: 1000, Period: time.Second, Burst: 85},
	{Limit: 1000, Period: time.Second, Burst: 86},
	{Limit: 1000, Period: time.Second, Burst: 1000},
	{Limit: 7, Period: time.Hour, Burst: 5},
	{Limit: 1, Period: kilntype.MaxRateLimitPeriod},
	{Limit: 1, Period: kilntype.MaxRateLimitPeriod, Burst: 1},
	{Limit: 1, Period: kilntype.MaxRateLimitPeriod, Burst: 98},
	{Limit: 1, Period: 24 * time.Hour, Burst: 36499},
	{Limit: 1 << 30, Period: kilntype.MaxRateLimitPeriod, Burst: 1 << 30},
}

// rateGuardCase is one budget of TestClaimRateGuardMatchesGo: a limit, in
// force as the worker's default or as a run-time override, and a
// theoretical arrival time (zero: no state).
type rateGuardCase struct {
	kind     string
	limit    kilntype.RateLimit
	override bool
	tat      time.Time
}

// rateGuardCases returns the budgets of TestClaimRateGuardMatchesGo at now
// for a claim of max: each limit of rateGuardLimits with no state and
// with its debt at the test's edges (none, a microsecond, an interval and
// a microsecond either side, (Burst − max) intervals and a microsecond
// either side, the full bucket, an hour, a century), each as a default
// and as an override.
func rateGuardCases(now time.Time, max int) []rateGuardCase {
	var cases []rateGuardCase
	for _, l := range rateGuardLimits {
		iv := l.Interval()
		aheads := []time.Duration{-time.Hour, 0, time.Microsecond, iv - time.Microsecond, iv, iv + time.Microsecond,
			time.Hour, 100 * 365 * 24 * time.Hour}
		for _, k := range []int{l.Burst - max, l.Burst + 1} {
			if k > 0 && iv <= time.Duration(math.MaxInt64/4)/time.Duration(k) {
				aheads = append(aheads, time.Duration(k)*iv-time.Microsecond, time.Duration(k)*iv, time.Duration(k)*iv+time.Microsecond)
			}
		}
		for _, override := range []bool{false, true} {
			cases = append(cases, rateGuardCase{limit: l, override: override})
			for _, a := range aheads {
				if a < 100*365*24*time.Hour+time.Hour { // the test's century at most: see kilntype
					cases = append(cases, rateGuardCase{limit: l, override: override, tat: now.Add(a)})
				}
			}
		}
	}
	for i := range cases {
		cases[i].kind = fmt.Sprintf("c%04d", i)
	}
	return cases
}

// TestClaimRateGuardMatchesGo checks the one-round claim's test of a
// budget (claimRateFits, in claimRateShort) against
// kilntype.RateLimit.Allowance(tat, now) > Max, at the ends of the
// limits' ranges (see rateGuardLimits, rateGuardCases) and for claims of
// 1, 2, 85 and 1,000 jobs: first each kind's test alone, then the whole
// prelude (sqlClaimPreludeRate, and sqlClaimPreludeRateOne's scalar text)
// for one kind at a time, which must say 'rate' exactly when the test
// fails (the one-kind text: 'nostate' when the budget has no row). A limit in force as a run-time
// override is tested with a default that allows everything, and a
// default with no state at all with a disabled override row absent.
func TestClaimRateGuardMatchesGo(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	generous := kilntype.RateLimit{Limit: 1 << 30, Period: time.Microsecond, Burst: 1 << 30}
	// The test of each kind alone: claimRateShort's FROM and test, its
	// parameters renumbered from $1.
	renumber := strings.NewReplacer("$10", "$6", "$5", "$1", "$6", "$2", "$7", "$3", "$8", "$4", "$9", "$5")
	each := renumber.Replace(`SELECT d.kind, l.n > 0 AND NOT (` + claimRateFits + `) FROM ` +
		claimRateInForce(5) + claimRateNow)
	for _, max := range []int{1, 2, 85, 1000} {
		cases := rateGuardCases(now, max)
		if _, err := s.pool.Exec(ctx, s.expand(`TRUNCATE {s}.kiln_rate_limit, {s}.kiln_rate_limit_state`)); err != nil {
			t.Fatal(err)
		}
		var (
			kinds           []string
			counts, bursts  []int32
			periods         []int64
			want            = map[string]bool{}
			stKinds         []string
			stTats          []time.Time
			oKinds          []string
			oCounts, oBurst []int32
			oPeriods        []int64
		)
		for _, c := range cases {
			def := c.limit
			if c.override {
				def = generous
				oKinds, oCounts, oPeriods, oBurst = append(oKinds, c.kind), append(oCounts, int32(c.limit.Limit)),
					append(oPeriods, c.limit.Period.Microseconds()), append(oBurst, int32(c.limit.Burst))
			}
			kinds, counts, periods, bursts = append(kinds, c.kind), append(counts, int32(def.Limit)),
				append(periods, def.Period.Microseconds()), append(bursts, int32(def.Burst))
			if !c.tat.IsZero() {
				stKinds, stTats = append(stKinds, c.kind), append(stTats, c.tat)
			}
			want[c.kind] = c.limit.Allowance(c.tat, now) <= max
		}
		if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_rate_limit (kind, per_key, limit_count, period_us, burst, updated_at)
SELECT k, false, n, us, b, $5 FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::integer[]) AS o(k, n, us, b)`),
			oKinds, oCounts, oPeriods, oBurst, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_rate_limit_state (kind, per_key, key, tat)
SELECT k, false, '', tat FROM unnest($1::text[], $2::timestamptz[]) AS st(k, tat)`), stKinds, stTats); err != nil {
			t.Fatal(err)
		}
		rows, err := s.pool.Query(ctx, s.sql(each), kinds, counts, periods, bursts, now, max)
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for rows.Next() {
			var (
				kind  string
				short bool
			)
			if err := rows.Scan(&kind, &short); err != nil {
				t.Fatal(err)
			}
			seen++
			if short != want[kind] {
				c := cases[slices.IndexFunc(cases, func(c rateGuardCase) bool { return c.kind == kind })]
				t.Errorf("max %d, %v (override %v), tat now%+v: SQL says short %v; Allowance = %d",
					max, c.limit, c.override, c.tat.Sub(now), short, c.limit.Allowance(c.tat, now))
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if seen != len(cases) {
			t.Fatalf("max %d: %d rows for %d kinds", max, seen, len(cases))
		}
		// The prelude of one kind (sqlClaimPreludeRateOne): the same
		// answer, but 'nostate' for a limit with no budget row, and the
		// interval of the limit in force in kiln.claim_rate_iv.
		for i, c := range cases {
			var (
				plain, iv string
			)
			if err := s.pool.QueryRow(ctx, s.sql(sqlClaimPreludeRateOne), "q", now, []string{c.kind}, []string{},
				kinds[i], counts[i], periods[i], bursts[i], now, max).Scan(nil, &plain, &iv); err != nil {
				t.Fatal(err)
			}
			wantPlain := map[bool]string{true: "rate", false: "take"}[want[c.kind]]
			if c.tat.IsZero() {
				wantPlain = "nostate"
			}
			if plain != wantPlain || iv != fmt.Sprint(c.limit.Interval().Microseconds()) {
				t.Errorf("max %d, %v (override %v), tat now%+v: one-kind prelude says %q, interval %q µs; want %q, %d (Allowance %d)",
					max, c.limit, c.override, c.tat.Sub(now), plain, iv, wantPlain, c.limit.Interval().Microseconds(),
					c.limit.Allowance(c.tat, now))
			}
		}
		// The prelude, one kind at a time.
		for i, c := range cases {
			var plain string
			if err := s.pool.QueryRow(ctx, s.sql(sqlClaimPreludeRate), "q", now, []string{c.kind}, []string{},
				kinds[i:i+1], counts[i:i+1], periods[i:i+1], bursts[i:i+1], now, max).Scan(nil, &plain); err != nil {
				t.Fatal(err)
			}
			if wantPlain := map[bool]string{true: "rate", false: "take"}[want[c.kind]]; plain != wantPlain {
				t.Errorf("max %d, %v (override %v), tat now%+v: prelude says %q; want %q (Allowance %d)",
					max, c.limit, c.override, c.tat.Sub(now), plain, wantPlain, c.limit.Allowance(c.tat, now))
			}
		}
	}
}

// insertRated inserts n available jobs of kind t in queue q, scheduled an
// hour before now.
func insertRated(t *testing.T, s *Store, now time.Time, n int) {
	t.Helper()
	if _, err := s.pool.Exec(t.Context(), s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at)
SELECT 't', 'q', '{}', 'available', 1, 1, $1, $1 FROM generate_series(1, $2)`), now.Add(-time.Hour), n); err != nil {
		t.Fatal(err)
	}
}

// rateClaimSetup returns a Store holding n available jobs of kind t in
// queue q (insertRated), the same Store traced into rec, and the tests'
// fixed time.
func rateClaimSetup(t *testing.T, n int) (s, traced *Store, rec *statementRecorder, now time.Time) {
	t.Helper()
	s = NewForTest(t)
	rec = &statementRecorder{}
	traced = tracedForTest(t, s, rec)
	now = time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	insertRated(t, s, now, n)
	return s, traced, rec, now
}

// kindTAT returns the theoretical arrival time of kind t's budget.
func kindTAT(t *testing.T, s *Store, now time.Time) time.Time {
	t.Helper()
	rows, err := s.RateLimitList(t.Context(), &store.RateLimitListParams{Kinds: []string{"t"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if !r.PerKey {
			return r.TAT
		}
	}
	return time.Time{}
}

// TestClaimRateOneRoundTrip checks the claims of a rate-limited kind: the
// first reads the budget in the two round trips of claimSerialized; once
// that read found an allowance of more than twice Max, the next claims
// are one batch (the lock, sqlClaimPreludeRateOne, sqlClaimPlainBudgetOne; no
// BEGIN or COMMIT: the batch's implicit transaction) that writes the budget as
// kilntype.RateLimit.Take does. A limit lowered at run time is obeyed by
// the very next claim, which the one batch tries and which then takes
// exactly the new allowance the usual way; the claims after it no longer
// try the one batch until a read finds room again.
func TestClaimRateOneRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, traced, rec, now := rateClaimSetup(t, 200)
	def := kilntype.RateLimit{Limit: 1000, Period: time.Second, Burst: 1000} // interval 1ms
	claim := func(max int) ([]*kilntype.JobRow, []string) {
		t.Helper()
		p := &store.JobClaimParams{Queue: "q", Max: max, Kinds: []string{"t"}, LeasedBy: "proc",
			Now: now, LeaseExpiresAt: now.Add(time.Minute), RateLimits: map[string]kilntype.RateLimit{"t": def},
			RateWait: time.Hour}
		jobs, err := traced.JobClaim(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if p.RateWait != 0 && len(jobs) == max {
			t.Errorf("RateWait = %v after a claim the limit did not bind; want 0", p.RateWait)
		}
		return jobs, rec.take()
	}
	oneTrip := []string{sqlLockLookupOne, traced.sql(sqlClaimPreludeRateOne), traced.sql(sqlClaimPlainBudgetOne(1))}
	isOneTrip := func(sqls []string) bool {
		return len(sqls) >= len(oneTrip) && slices.Equal(sqls[:len(oneTrip)], oneTrip)
	}

	jobs, sqls := claim(10)
	if len(jobs) != 10 || isOneTrip(sqls) || !slices.Contains(sqls, traced.sql(sqlRateClaimRead)) {
		t.Fatalf("first claim: %d jobs; want 10, its budget read the usual way:\n%s", len(jobs), strings.Join(sqls, "\n--\n"))
	}
	tat := kindTAT(t, s, now)
	for i := range 3 {
		jobs, sqls = claim(10)
		if len(jobs) != 10 || !slices.Equal(sqls, oneTrip) {
			t.Fatalf("claim %d: %d jobs; want 10, in one batch of %d statements:\n%s", i+2, len(jobs), len(oneTrip),
				strings.Join(sqls, "\n--\n"))
		}
		for k := 1; k < len(jobs); k++ {
			if compareClaimOrder(jobs[k-1], jobs[k]) >= 0 {
				t.Fatalf("claim %d: jobs out of claim order", i+2)
			}
		}
		want := def.Take(tat, now, 10)
		if tat = kindTAT(t, s, now); !tat.Equal(want) {
			t.Fatalf("claim %d: budget's TAT %v; want %v (Take of 10)", i+2, tat, want)
		}
	}

	// Lowered at run time to 1 per second, Burst 2: the debt (40 ms) leaves
	// 2 starts.
	lowered := kilntype.RateLimit{Limit: 1, Period: time.Second, Burst: 2}
	if err := s.RateLimitSet(ctx, &store.RateLimitSetParams{Kind: "t", Limit: lowered, Now: now}); err != nil {
		t.Fatal(err)
	}
	allow := lowered.Allowance(kindTAT(t, s, now), now)
	if allow != 2 {
		t.Fatalf("the test's arithmetic: allowance %d under the lowered limit; want 2", allow)
	}
	jobs, sqls = claim(10)
	if len(jobs) != allow || !isOneTrip(sqls) || len(sqls) == len(oneTrip) {
		t.Fatalf("claim after the limit was lowered: %d jobs; want %d, the one batch tried first, then the usual way:\n%s",
			len(jobs), allow, strings.Join(sqls, "\n--\n"))
	}
	jobs, sqls = claim(10)
	if len(jobs) != 0 || isOneTrip(sqls) {
		t.Fatalf("next claim: %d jobs; want none, without the one batch:\n%s", len(jobs), strings.Join(sqls, "\n--\n"))
	}

	// Removed, and 3 s later (the lowered limit's starts left the budget
	// 2.04 s ahead): the default applies again; one read finds room, and
	// the claims after it are one batch again.
	if err := s.RateLimitDelete(ctx, "t", false); err != nil {
		t.Fatal(err)
	}
	now = now.Add(3 * time.Second)
	if jobs, sqls = claim(10); len(jobs) != 10 || isOneTrip(sqls) {
		t.Fatalf("claim after the override was removed: %d jobs; want 10, the usual way", len(jobs))
	}
	if jobs, sqls = claim(10); len(jobs) != 10 || !slices.Equal(sqls, oneTrip) {
		t.Fatalf("next claim: %d jobs; want 10, in one batch:\n%s", len(jobs), strings.Join(sqls, "\n--\n"))
	}
}

// TestClaimRateOneRoundTripCluster: claims from three Stores (processes)
// on one schema, 12 at once, at one time (the callers' clock), share one
// budget of 60 starts (Burst 59) to the job, most of them in one round
// trip, until it is spent: exactly 60 jobs are claimed.
func TestClaimRateOneRoundTripCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := SchemaForTest(t)
	rec := &statementRecorder{}
	var stores []*Store
	for i := range 3 {
		s := OpenForTest(t, &Options{Schema: schema, MaxConns: 4, Migrate: i == 0, CallerClock: true})
		stores = append(stores, tracedForTest(t, s, rec))
	}
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	insertRated(t, stores[0], now, 200)
	limit := kilntype.RateLimit{Limit: 10, Period: time.Hour, Burst: 59}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for i := range 12 {
		wg.Go(func() {
			for empty := 0; empty < 2; {
				jobs, err := stores[i%3].JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: 3, Kinds: []string{"t"},
					LeasedBy: fmt.Sprint("proc", i%3), Now: now, LeaseExpiresAt: now.Add(time.Minute),
					RateLimits: map[string]kilntype.RateLimit{"t": limit}})
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					empty++
				}
				mu.Lock()
				total += len(jobs)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if total != 60 {
		t.Fatalf("claims took %d jobs; want 60 (Burst 59 + 1)", total)
	}
	oneTrips := 0
	for _, sql := range rec.take() {
		if sql == stores[0].sql(sqlClaimPreludeRateOne) {
			oneTrips++
		}
	}
	// Some claims run before any read of the budgets set the hint, and
	// every claim that found the budget short falls back; the bound only
	// says that the one batch is tried once the hint is set.
	if oneTrips < 3 {
		t.Fatalf("%d claims tried the one batch; want at least 3", oneTrips)
	}
	if tat, want := kindTAT(t, stores[0], now), limit.Take(time.Time{}, now, 60); !tat.Equal(want) {
		t.Fatalf("budget's TAT %v; want %v (60 starts from a full budget)", tat, want)
	}
}

// TestClaimRateOneTripDueSkip: a one-trip claim of a rate-limited kind
// that finds a due scheduled job ('due') takes nothing and the claim is
// made the usual way; the queue's next rateDueSkipClaims claims then skip
// the one batch even though due jobs keep coming, and the one after them
// tries it again. Without the skip every claim would pay the failed batch.
func TestClaimRateOneTripDueSkip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, traced, rec, now := rateClaimSetup(t, 400)
	def := kilntype.RateLimit{Limit: 1000, Period: time.Second, Burst: 1000}
	claim := func() ([]*kilntype.JobRow, []string) {
		t.Helper()
		p := &store.JobClaimParams{Queue: "q", Max: 10, Kinds: []string{"t"}, LeasedBy: "proc",
			Now: now, LeaseExpiresAt: now.Add(time.Minute), RateLimits: map[string]kilntype.RateLimit{"t": def},
			RateWait: time.Hour}
		jobs, err := traced.JobClaim(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return jobs, rec.take()
	}
	due := func() {
		t.Helper()
		if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at) VALUES ('t', 'q', '{}', 'scheduled', 1, 1, $1, $1)`), now.Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	oneTrip := []string{sqlLockLookupOne, traced.sql(sqlClaimPreludeRateOne), traced.sql(sqlClaimPlainBudgetOne(1))}
	tried := func(sqls []string) bool {
		return len(sqls) >= len(oneTrip) && slices.Equal(sqls[:len(oneTrip)], oneTrip)
	}

	if jobs, sqls := claim(); len(jobs) != 10 || tried(sqls) {
		t.Fatalf("first claim: %d jobs; want 10, its budget read the usual way", len(jobs))
	}
	due()
	jobs, sqls := claim()
	if len(jobs) != 10 || !tried(sqls) || len(sqls) == len(oneTrip) {
		t.Fatalf("claim with a due job: %d jobs; want 10, the one batch tried, then the usual way:\n%s",
			len(jobs), strings.Join(sqls, "\n--\n"))
	}
	for i := range rateDueSkipClaims {
		due()
		if jobs, sqls = claim(); len(jobs) != 10 || tried(sqls) {
			t.Fatalf("claim %d after the due answer: %d jobs, one batch tried %v; want 10 without it",
				i+1, len(jobs), tried(sqls))
		}
	}
	if jobs, sqls = claim(); len(jobs) != 10 || !tried(sqls) {
		t.Fatalf("claim %d after the due answer: %d jobs, one batch tried %v; want 10, the one batch tried again",
			rateDueSkipClaims+1, len(jobs), tried(sqls))
	}
}

// TestClaimRateStartsPastMark: the one-trip claim of a rate-limited kind
// starts past the Store's mark of its queue and kinds, as the plain claim
// does (claimMarks): a job made available before the mark is not what the
// next claim takes while jobs after the mark fill it, and a claim past the
// mark that comes back short takes the rest from the front in a second
// batch, which writes its own spend: the budget counts every job taken.
// Until 2026-12-07 the one-trip claim always read from the front, through
// the dead index entries of every job claimed before it.
func TestClaimRateStartsPastMark(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, traced, rec, now := rateClaimSetup(t, 5)
	def := kilntype.RateLimit{Limit: 1000, Period: time.Second, Burst: 1000}
	claim := func(max int) ([]int64, []string) {
		t.Helper()
		jobs, err := traced.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: max, Kinds: []string{"t"},
			LeasedBy: "proc", Now: now, LeaseExpiresAt: now.Add(time.Minute),
			RateLimits: map[string]kilntype.RateLimit{"t": def}})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		return ids, rec.take()
	}
	var later []int64
	if err := pgxSelectIDs(ctx, s, `SELECT id FROM {s}.kiln_job ORDER BY id`, &later); err != nil {
		t.Fatal(err)
	}
	oneTrip := traced.sql(sqlClaimPreludeRateOne)
	// The first claim reads the budget the usual way; the second is one
	// batch from the front, which sets the mark.
	if got, _ := claim(1); !equalIDs(got, later[:1]) {
		t.Fatalf("first claim took %v; want %v", got, later[:1])
	}
	if got, sqls := claim(2); !equalIDs(got, later[1:3]) || !slices.Contains(sqls, oneTrip) {
		t.Fatalf("second claim took %v; want %v in one batch", got, later[1:3])
	}
	// A job of a higher priority, before the mark in claim order.
	var first int64
	if err := s.pool.QueryRow(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at) VALUES ('t', 'q', '{}', 'available', 0, 1, $1, $1) RETURNING id`),
		now.Add(-time.Hour)).Scan(&first); err != nil {
		t.Fatal(err)
	}
	got, sqls := claim(1)
	if !equalIDs(got, later[3:4]) || slices.Index(sqls, oneTrip) < 0 || len(sqls) != 3 {
		t.Fatalf("claim past the mark took %v; want %v (the job after the mark, not %v before it), in one batch of 3:\n%s",
			got, later[3:4], first, strings.Join(sqls, "\n--\n"))
	}
	// Past the mark one job is left: the claim of 3 takes it, then the
	// job before the mark from the front, in a second batch.
	got, sqls = claim(3)
	slices.Sort(got)
	if want := []int64{later[4], first}; !equalIDs(got, want) || len(sqls) != 6 {
		t.Fatalf("short claim past the mark took %v; want %v, in two batches of 3 (%d statements):\n%s",
			got, want, len(sqls), strings.Join(sqls, "\n--\n"))
	}
	if tat, want := kindTAT(t, s, now), def.Take(time.Time{}, now, 6); !tat.Equal(want) {
		t.Fatalf("budget's TAT %v; want %v (6 starts from a full budget)", tat, want)
	}
}

// pgxSelectIDs reads the int64 column of query ({s}: s's schema) into ids.
func pgxSelectIDs(ctx context.Context, s *Store, query string, ids *[]int64) error {
	rows, err := s.pool.Query(ctx, s.expand(query))
	if err != nil {
		return err
	}
	*ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	return err
}

// TestClaimRateOneTripNoState: a kind whose budget has no row yet (its
// claims found no job, and the read left the hint set) is claimed the
// usual way once: the one-kind prelude says 'nostate', the claim gives the
// budget a neutral row (a TAT of now: the whole bucket, as no row), and
// its next claims are one batch that updates the row, whether they find
// jobs or not. The budget counts every job taken, as
// kilntype.RateLimit.Take.
func TestClaimRateOneTripNoState(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, traced, rec, now := rateClaimSetup(t, 0)
	def := kilntype.RateLimit{Limit: 1000, Period: time.Second, Burst: 1000}
	claim := func() (int, []string) {
		t.Helper()
		jobs, err := traced.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: 10, Kinds: []string{"t"},
			LeasedBy: "proc", Now: now, LeaseExpiresAt: now.Add(time.Minute),
			RateLimits: map[string]kilntype.RateLimit{"t": def}})
		if err != nil {
			t.Fatal(err)
		}
		return len(jobs), rec.take()
	}
	oneTrip := []string{sqlLockLookupOne, traced.sql(sqlClaimPreludeRateOne), traced.sql(sqlClaimPlainBudgetOne(1))}
	if n, sqls := claim(); n != 0 || slices.Contains(sqls, oneTrip[1]) {
		t.Fatalf("first claim: %d jobs, one batch tried %v; want none, the usual way", n, slices.Contains(sqls, oneTrip[1]))
	}
	if tat := kindTAT(t, s, now); !tat.IsZero() {
		t.Fatalf("budget's TAT %v after a claim of nothing; want no row", tat)
	}
	n, sqls := claim()
	if n != 0 || !slices.Equal(sqls[:3], oneTrip) || !slices.Contains(sqls, traced.sql(sqlRateClaimRead)) {
		t.Fatalf("claim with no budget row: %d jobs; want none, the one batch tried, then the usual way:\n%s",
			n, strings.Join(sqls, "\n--\n"))
	}
	if tat := kindTAT(t, s, now); !tat.Equal(now) {
		t.Fatalf("budget's TAT %v after the neutral row; want %v", tat, now)
	}
	if n, sqls = claim(); n != 0 || !slices.Equal(sqls, oneTrip) {
		t.Fatalf("claim after the neutral row: %d jobs; want none in one batch:\n%s", n, strings.Join(sqls, "\n--\n"))
	}
	insertRated(t, s, now, 30)
	for i := range 3 {
		if n, sqls = claim(); n != 10 || !slices.Equal(sqls, oneTrip) {
			t.Fatalf("claim %d: %d jobs; want 10 in one batch:\n%s", i+4, n, strings.Join(sqls, "\n--\n"))
		}
	}
	if tat, want := kindTAT(t, s, now), def.Take(time.Time{}, now, 30); !tat.Equal(want) {
		t.Fatalf("budget's TAT %v; want %v (30 starts)", tat, want)
	}
}

// TestClaimRateOneTripIsolation: on connections whose transactions are
// REPEATABLE READ by default, the one batch's implicit transaction would
// read the budget in a snapshot taken before the kinds' locks were
// granted: its prelude says 'isolation', the claim is made the usual way
// (claimSerialized, READ COMMITTED), and the Store's next
// rateIsolationSkipClaims claims do not try the one batch; the one after
// them does (an administrator may have set the default back). The budget
// counts every job taken.
func TestClaimRateOneTripIsolation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	insertRated(t, s, now, 50)
	rec := &statementRecorder{}
	traced := storeOnPoolForTest(t, s, &Options{CallerClock: true}, func(cfg *pgxpool.Config) {
		cfg.ConnConfig.Tracer = rec
		cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	})
	def := kilntype.RateLimit{Limit: 1000, Period: time.Second, Burst: 1000}
	prelude := traced.sql(sqlClaimPreludeRateOne)
	for i, wantTried := range []bool{false, true, false, false, true} {
		if i == 3 {
			if left := traced.rateIsolationSkip.Load(); left != rateIsolationSkipClaims-1 {
				t.Fatalf("after the skipped claim, %d claims left to skip; want %d", left, rateIsolationSkipClaims-1)
			}
			traced.rateIsolationSkip.Store(1) // the skips but one are over
		}
		jobs, err := traced.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: 10, Kinds: []string{"t"},
			LeasedBy: "proc", Now: now, LeaseExpiresAt: now.Add(time.Minute),
			RateLimits: map[string]kilntype.RateLimit{"t": def}})
		if err != nil {
			t.Fatal(err)
		}
		sqls := rec.take()
		if tried := slices.Contains(sqls, prelude); len(jobs) != 10 || tried != wantTried ||
			!slices.Contains(sqls, traced.sql(sqlRateClaimRead)) {
			t.Fatalf("claim %d: %d jobs, one batch tried %v; want 10, tried %v, then the usual way:\n%s",
				i+1, len(jobs), tried, wantTried, strings.Join(sqls, "\n--\n"))
		}
	}
	if left := traced.rateIsolationSkip.Load(); left != rateIsolationSkipClaims {
		t.Fatalf("after the second 'isolation', %d claims left to skip; want %d", left, rateIsolationSkipClaims)
	}
	if tat, want := kindTAT(t, s, now), def.Take(time.Time{}, now, 50); !tat.Equal(want) {
		t.Fatalf("budget's TAT %v; want %v (50 starts)", tat, want)
	}
}
