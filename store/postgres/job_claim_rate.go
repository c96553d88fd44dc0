package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// This file is the claim of rate-limited kinds in one round trip: the
// plain claim (sqlClaimPlain), with the budgets tested in its prelude and
// written in its statement, in the implicit transaction of one batch
// (Store.claimRateOneTrip). docs/benchmarks.md, "PostgreSQL rate-limited
// claim in one round trip (issue 13, 2026-12-06)", has its counts.

// claimRateInForce returns the FROM items that give, for each kind of the
// parameters $i (text[]: the rate-limited kinds), $i+1 (integer[]: their
// workers' default Limit), $i+2 (bigint[]: Period in microseconds) and
// $i+3 (integer[]: Burst), the limit in force as store.NewRateClaim takes
// it (kiln_rate_limit's run-time override of the kind as a whole when
// there is one, else the default; an override's columns are all NOT NULL)
// and the kind's budget: d.kind, l.n (Limit; 0: not enabled, no limit),
// l.burst, l.iv (kilntype.RateLimit.Interval in microseconds: Period ÷
// Limit rounded up; NULL when l.n is 0) and l.tat (NULL: no state, a full
// budget). Primary-key lookups only, one of each table per kind: the
// state's is a subquery of the kind, so that it is sought by kind
// whatever the planner estimates (as a join, a generic plan read every
// kind's state and filtered them), in a subquery that OFFSET 0 keeps
// from being pulled up (its columns are then computed once per kind, not
// once per reference).
func claimRateInForce(i int) string {
	return fmt.Sprintf(`unnest($%d::text[], $%d::integer[], $%d::bigint[], $%d::integer[]) AS d(kind, limit_count, period_us, burst)
	LEFT JOIN {s}.kiln_rate_limit AS o ON o.kind = d.kind AND NOT o.per_key
	CROSS JOIN LATERAL (SELECT coalesce(o.limit_count, d.limit_count) AS n, coalesce(o.burst, d.burst) AS burst,
		(coalesce(o.period_us, d.period_us) + coalesce(o.limit_count, d.limit_count) - 1)
			/ nullif(coalesce(o.limit_count, d.limit_count), 0) AS iv,
		(SELECT st.tat FROM {s}.kiln_rate_limit_state AS st
			WHERE st.kind = d.kind AND NOT st.per_key AND st.key = '') AS tat
		OFFSET 0) AS l`, i, i+1, i+2, i+3)
}

// claimRateShort is the WHEN of sqlClaimPreludeRate that sets
// kiln.claim_plain to 'rate': some kind of $5 (with $6, $7 and $8: see
// claimRateInForce) has a limit in force whose allowance at the budgets'
// time ($9, NULL: the database's clock as the statement reads the
// budgets, after the claim's locks: see claimRateNow) is not more than
// the claim's Max ($10).
//
// kilntype.RateLimit.Allowance(tat, now) > Max holds exactly when the
// budget's debt, max(tat − now, 0), is at most (Burst − Max) × Interval
// (Allowance is Burst + 1 − ⌈debt ÷ Interval⌉ while the debt is below the
// full bucket), which the test is: Burst ≥ Max, and tat at or before now
// or tat − now, in microseconds, at most (Burst − Max) × Interval,
// compared as numeric so that no product overflows. More than Max, not
// Max or more: a claim whose guard holds never uses a kind's allowance
// up, so its RateWait is 0 (store.RateClaim.Taken), which the one-round
// claim need not compute.
var claimRateShort = `
		WHEN current_setting('transaction_isolation') <> 'read committed' THEN 'isolation'
		WHEN EXISTS (SELECT FROM ` + claimRateInForce(5) + claimRateNow + `
			WHERE l.n > 0 AND NOT (` + claimRateFits + `)) THEN 'rate'`

// claimRateNow is the FROM item of claimRateShort that gives t.now, the
// time of the budgets: $9, or the database's clock, clock_timestamp(),
// read once as the statement runs. Not statement_timestamp(): under pgx's
// simple protocol (QueryExecModeSimpleProtocol, a PgBouncer setting) a
// batch is one Query message, whose statements all get the time the
// message arrived, before the kinds' lock that the batch's first
// statement may wait for; jobs started after a wait of D would be charged
// from D earlier, up to D ÷ Interval of them for free
// (TestClaimRateClockAfterLock).
const claimRateNow = `
	CROSS JOIN (SELECT coalesce($9::timestamptz, clock_timestamp()) AS now) AS t`

// claimRateFits is claimRateShort's test that a kind's limit in force
// (claimRateInForce, enabled: l.n > 0) allows more than $10 jobs at t.now.
const claimRateFits = `l.burst >= $10 AND (l.tat IS NULL OR l.tat <= t.now
	OR extract(epoch FROM l.tat - t.now) * 1000000 <= (l.burst - $10)::numeric * l.iv)`

// sqlClaimPreludeRate is sqlClaimPrelude ($1 to $4) that also sets
// kiln.claim_plain to 'rate', after the pause's test and before the due
// test, when a rate limit in force might bind the claim (claimRateShort;
// $5 to $10): sqlClaimPlainBudget then takes nothing.
var sqlClaimPreludeRate = claimPrelude(claimRateShort)

// claimRateBudget is the CTE of sqlClaimPlainBudget that writes the
// budgets of the kinds of $8 (with $9, $10 and $11: see claimRateInForce)
// whose limit is in force and of which the claim took n > 0 jobs (picked
// n: each is claimed, see sqlClaimPlainFormat): the theoretical arrival
// time greatest(tat, now) + n × Interval, now being $15 (NULL: the
// database's clock, clock_timestamp(), as the statement runs, after the
// kinds' lock: see claimRateNow). That is
// kilntype.RateLimit.Take(tat, now, n) whenever sqlClaimPreludeRate let
// the claim take jobs: the debt is then below the full bucket, which Take
// would cut it to. The interval's product is exact up to 2^53
// microseconds (285 years), as claimBudget's. Without $15, now is read
// as this statement runs, a little after the prelude's: an allowance only
// grows with time, so the prelude's test holds at it too. A limit set at
// run time between the two statements (RateLimitSet does not take the
// kinds' locks) applies to the budget's write and not to the test, as a
// limit set between claimSerialized's read and write does.
var claimRateBudget = `,
budget AS (
	INSERT INTO {s}.kiln_rate_limit_state (kind, per_key, key, tat)
	SELECT d.kind, false, '', greatest(l.tat, t.now) + (p.n * l.iv) * interval '1 microsecond'
	FROM ` + claimRateInForce(11) + `
	CROSS JOIN LATERAL (SELECT count(*) AS n FROM picked WHERE picked.kind = d.kind) AS p
	CROSS JOIN (SELECT coalesce($15::timestamptz, clock_timestamp()) AS now) AS t
	WHERE l.n > 0 AND p.n > 0
	ON CONFLICT (kind, per_key, key) DO UPDATE SET tat = excluded.tat
)`

// claimRateInForceOne is claimRateInForce for one kind, $5 (text), whose
// workers' default is $6 (Limit), $7 (Period in microseconds) and $8
// (Burst): one row l of the same columns (l.n, l.burst, l.iv, l.tat),
// from one primary-key lookup of each table, with no array to unnest. As
// claimRateInForce's, OFFSET 0 keeps the subquery from being pulled up,
// so that its columns are computed once, not once per reference.
const claimRateInForceOne = `(SELECT coalesce(o.limit_count, $6::integer) AS n, coalesce(o.burst, $8::integer) AS burst,
		(coalesce(o.period_us, $7::bigint) + coalesce(o.limit_count, $6::integer) - 1)
			/ nullif(coalesce(o.limit_count, $6::integer), 0) AS iv,
		(SELECT st.tat FROM {s}.kiln_rate_limit_state AS st
			WHERE st.kind = $5::text AND NOT st.per_key AND st.key = '') AS tat
	FROM (SELECT) AS d LEFT JOIN {s}.kiln_rate_limit AS o ON o.kind = $5::text AND NOT o.per_key
	OFFSET 0) AS l`

// sqlClaimPreludeRateOne is sqlClaimPreludeRate for a claim of one
// rate-limited kind (claimRateInForceOne's parameters, $9 and $10 as
// sqlClaimPreludeRate's), the usual case, in fewer plan nodes. Its CASE
// also says 'nostate' when the kind's limit is enabled and its budget has
// no row yet (sqlClaimPlainBudgetOne updates the row, and inserts none),
// and it sets kiln.claim_rate_iv, for sqlClaimPlainBudgetOne later in its
// transaction, to the interval in microseconds of the limit in force
// (” when none is), so that the budget is written with the limit that
// the prelude tested. It returns three columns, the second kiln.claim_plain.
var sqlClaimPreludeRateOne = claimPreludeWith(`
		WHEN current_setting('transaction_isolation') <> 'read committed' THEN 'isolation'
		WHEN l.n > 0 AND l.tat IS NULL THEN 'nostate'
		WHEN l.n > 0 AND NOT (`+claimRateFits+`) THEN 'rate'`, `,
	set_config('kiln.claim_rate_iv', CASE WHEN l.n > 0 THEN l.iv::text ELSE '' END, true)
FROM `+claimRateInForceOne+claimRateNow)

// claimRateBudgetOne is claimRateBudget for the one kind $11 (text) of
// sqlClaimPreludeRateOne, with $12 for $15: an UPDATE of the budget's row
// (which the prelude found: no INSERT … ON CONFLICT, whose plan and
// speculative insertion cost more) to greatest(tat, now) + n ×
// kiln.claim_rate_iv, n the jobs of the kind picked, when the prelude
// found a limit in force and n > 0. About 4,400 database instructions per
// job fewer than claimRateBudget's upsert at 70 jobs a claim, most of it
// the plan's start-up (docs/benchmarks.md, "PostgreSQL rate-limited
// claim (pgrate, 2026-12-07 fourteenth session)").
const claimRateBudgetOne = `,
budget AS (
	UPDATE {s}.kiln_rate_limit_state
	SET tat = greatest(tat, coalesce($12::timestamptz, clock_timestamp()))
		+ ((SELECT count(*) FROM picked WHERE picked.kind = $11::text)
			* nullif(current_setting('kiln.claim_rate_iv', true), '')::bigint) * interval '1 microsecond'
	WHERE kind = $11::text AND NOT per_key AND key = '' AND current_setting('kiln.claim_rate_iv', true) <> ''
		AND EXISTS (SELECT FROM picked WHERE picked.kind = $11::text)
)`

// sqlClaimPlainBudgetOne is sqlClaimPlainBudget for one rate-limited kind
// ($11, of the k ≥ 1 kinds of $3), after sqlClaimPreludeRateOne.
func sqlClaimPlainBudgetOne(k int) string {
	return claimSQL{kinds: k, plain: true, budget: true, rateOne: true}.text()
}

// sqlRateStateNeutral gives kind $1 a budget row, if it has none, at $2
// (NULL: the database's clock): a theoretical arrival time of now, which
// leaves the whole bucket, as no row does (kilntype.RateLimit.Allowance
// and Take treat a TAT at or before now as no debt). claimRateOneTrip
// writes it when sqlClaimPreludeRateOne finds no row ('nostate'), so that
// the kind's next one-trip claims can update it.
const sqlRateStateNeutral = `INSERT INTO {s}.kiln_rate_limit_state (kind, per_key, key, tat)
VALUES ($1, false, '', coalesce($2::timestamptz, statement_timestamp()))
ON CONFLICT (kind, per_key, key) DO NOTHING`

// sqlClaimPlainBudget returns the plain claim for k ≥ 1 kinds of
// available jobs (sqlClaimPlain) that also writes the budgets of the
// rate-limited kinds it took jobs of (claimRateBudget). It takes jobs only
// when sqlClaimPreludeRate, before it in its transaction, set
// kiln.claim_plain to 'take'.
func sqlClaimPlainBudget(k int) string { return claimSQL{kinds: k, plain: true, budget: true}.text() }

// sqlLockLookup is sqlLockGeneric (the advisory lock of each kind of $1
// in schema $2, for the rest of the transaction) with sqlLookupSettings'
// settings: the first statement of claimRateOneTrip's transaction, so
// that the plain claim's prelude and statement are planned as on the
// pool.
const sqlLockLookup = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
	set_config('plan_cache_mode', 'force_generic_plan', true),
	(SELECT count(pg_advisory_xact_lock(hashtextextended($2 || '/' || k, 0)))
	FROM (SELECT k FROM unnest($1::text[]) AS t(k) ORDER BY k COLLATE "C" OFFSET 0) AS sorted)`

// sqlLockLookupOne is sqlLockLookup for one kind, $1 (text): the one
// advisory lock, taken with no array to unnest and sort.
const sqlLockLookupOne = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
	set_config('plan_cache_mode', 'force_generic_plan', true),
	pg_advisory_xact_lock(hashtextextended($2 || '/' || $1::text, 0))`

// rateRoomFactor is how many times a claim's Max the allowance of each of
// its rate-limited kinds must have been at the Store's last read of their
// budgets for the claim to try claimRateOneTrip first.
const rateRoomFactor = 2

// rateDueSkipClaims is how many claims of a queue's rate-limited kinds
// skip claimRateOneTrip after one that found a due scheduled or retryable
// job (Store.rateDueSkip).
const rateDueSkipClaims = 8

// rateIsolationSkipClaims is how many claims of rate-limited kinds skip
// claimRateOneTrip after one that found its transaction in an isolation
// other than READ COMMITTED (Store.rateIsolationSkip).
const rateIsolationSkipClaims = 1024

// rateRoomy reports whether params, a claim of rate-limited kinds, may try
// claimRateOneTrip: it has no other limit than its rate limits per kind
// (no cluster or kind limits; claims by key never come here), names its
// kinds, the Store's last read of each rate-limited kind's budget left an
// allowance of more than rateRoomFactor × Max (s.rateRoom), and none of
// the queue's last rateDueSkipClaims claims found a due job in its
// one-trip batch (s.rateDueSkip), and none of the Store's last
// rateIsolationSkipClaims claims of rate-limited kinds found its batch in
// an isolation other than READ COMMITTED (s.rateIsolationSkip).
// A limit that binds, or due jobs that
// keep coming, thus do not make every claim pay a failed one-trip batch
// before the two round trips; the hints are only that, since the claim's
// prelude tests every budget and the due jobs again in its transaction.
func (s *Store) rateRoomy(params *store.JobClaimParams) bool {
	if len(params.ClusterKindLimits) > 0 || params.KindFilter() == nil {
		return false
	}
	for _, limit := range params.KindLimits {
		if limit > 0 {
			return false
		}
	}
	for kind := range params.RateLimits {
		room, ok := s.rateRoom.Load(kind)
		if !ok || room.(int) <= rateRoomFactor*params.Max {
			return false
		}
	}
	// Two claims at once may both skip on the last count: hints.
	if s.rateIsolationSkip.Load() > 0 {
		s.rateIsolationSkip.Add(-1)
		return false
	}
	if skip, ok := s.rateDueSkip.Load(params.Queue); ok {
		if n := skip.(*atomic.Int32); n.Load() > 0 {
			n.Add(-1)
			return false
		}
	}
	return true
}

// noteRateRoom records, for rateRoomy, the allowance that a claim's read of
// its budgets (rate, of params) found for each rate-limited kind: the
// largest int when no limit is in force for it.
func (s *Store) noteRateRoom(params *store.JobClaimParams, rate *store.RateClaim) {
	for kind := range params.RateLimits {
		allow, ok := rate.Allowance(kind)
		if !ok {
			allow = math.MaxInt
		}
		if old, ok := s.rateRoom.Load(kind); !ok || old.(int) != allow {
			s.rateRoom.Store(kind, allow)
		}
	}
}

// claimRateOneTrip claims for params, a claim for which rateRoomy holds,
// in one round trip: one batch of the kinds' locks with the plain claim's
// settings (sqlLockLookup), sqlClaimPreludeRate and sqlClaimPlainBudget
// (for one rate-limited kind, the usual case: sqlLockLookupOne when it is
// the claim's only serialized kind, sqlClaimPreludeRateOne and
// sqlClaimPlainBudgetOne, fewer plan nodes to start at each claim),
// in the implicit transaction that PostgreSQL runs a batch in up to its
// Sync, as the plain claim's batch (claim.runPlain): no BEGIN and COMMIT
// of their own. Under the locks, the prelude tests each rate-limited
// kind's budget (the limit in force, override or default, and its state)
// and the claim takes jobs only when no limit can bind it, writing the
// budgets it spent in its own statement. The prelude reads the budgets
// after the locks are granted only in READ COMMITTED, where each statement
// takes its own snapshot: in any other isolation (the database's default,
// which an implicit transaction has) it answers 'isolation', and the
// Store's next rateIsolationSkipClaims claims of rate-limited kinds do not
// try the one batch (rateIsolationSkip).
//
// The claim starts past the Store's mark of the queue and kinds
// (claimMarks), as the plain claim does, and by the same rules: a claim
// past the mark that took fewer jobs than it asked for is followed at
// once by another batch from the front for the rest, which tests the
// budgets again.
//
// It returns the jobs claimed and true, or, when the first batch's prelude
// found a limit that might bind ('rate', which also clears the kinds'
// hints), a due scheduled or retryable job ('due'), another isolation
// ('isolation') or a budget with no row for sqlClaimPlainBudgetOne to
// update ('nostate', after which it writes a neutral row:
// sqlRateStateNeutral), nothing claimed and false: the claim must then
// be made the usual way (claimSerialized), as it would have been. A batch from
// the front after a short one that answers so ends the claim with the
// jobs already taken.
//
// RateWait is 0: the claim took fewer jobs than each kind's allowance.
func (s *Store) claimRateOneTrip(ctx context.Context, params *store.JobClaimParams) ([]*kilntype.JobRow, bool, error) {
	c := s.newClaim(params)
	avail := c.notExcluded(params.Kinds)
	if len(avail) == 0 {
		return c.claimed, true, nil
	}
	kinds := make([]string, 0, len(params.RateLimits))
	for _, kind := range params.RateLimitedKinds() {
		if slices.Contains(avail, kind) {
			kinds = append(kinds, kind)
		}
	}
	counts, periods, bursts := make([]int32, len(kinds)), make([]int64, len(kinds)), make([]int32, len(kinds))
	for i, kind := range kinds {
		l := params.RateLimits[kind]
		counts[i], periods[i], bursts[i] = int32(l.Limit), l.Period.Microseconds(), int32(l.Burst)
	}
	budgetsAt := s.callerTime(params.Now)
	key := claimMarkKey(params.Queue, avail)
	marked := !params.FromFront
	serialized := params.SerializedKinds()
	for want := params.Max; ; {
		from := frontStart(c.now)
		if marked {
			from = s.claimMarks.start(key, c.now)
		}
		var plain string
		lock := batchStatement{sql: sqlLockLookup, args: []any{serialized, s.lockSpace}, label: "lock rate-limited kinds"}
		args := []any{params.Queue, c.now, avail, want, params.LeasedBy, c.leaseEnd, c.leaseLen,
			from.priority, from.scheduledAt, from.id}
		var before []batchStatement
		sql := sqlClaimPlainBudget(len(avail))
		if len(kinds) == 1 {
			if len(serialized) == 1 {
				lock = batchStatement{sql: sqlLockLookupOne, args: []any{serialized[0], s.lockSpace},
					label: "lock rate-limited kind"}
			}
			before = []batchStatement{lock, {sql: s.sql(sqlClaimPreludeRateOne), args: []any{params.Queue, c.now,
				params.KindFilter(), c.excluded, kinds[0], counts[0], periods[0], bursts[0], budgetsAt, want},
				label: "claim prelude", row: []any{nil, &plain, nil}}}
			sql, args = sqlClaimPlainBudgetOne(len(avail)), append(args, kinds[0], budgetsAt)
		} else {
			before = []batchStatement{lock, {sql: s.sql(sqlClaimPreludeRate), args: []any{params.Queue, c.now,
				params.KindFilter(), c.excluded, kinds, counts, periods, bursts, budgetsAt, want},
				label: "claim prelude", row: []any{nil, &plain}}}
			args = append(args, kinds, counts, periods, bursts, budgetsAt)
		}
		n := len(c.claimed)
		err := batchQuery(ctx, s.pool, before, s.sql(sql), args, c.appendRows())
		if err != nil || plain != "take" {
			if marked {
				s.claimMarks.forget(key)
			}
			if err != nil {
				if n > 0 {
					// A batch from the front after a short one past the
					// mark failed: the jobs of the first, committed in its
					// own implicit transaction, are running and leased to
					// this claim, so it returns them (as a claim that ends
					// early), not an error that would leave them to the
					// rescuer.
					c.claimed = c.claimed[:n]
					params.RateWait = 0
					return c.claimed, true, nil
				}
				return nil, false, err
			}
		}
		switch plain {
		case "take":
		case "paused":
			params.RateWait = 0
			return c.claimed, true, nil
		default:
			if n > 0 {
				// A batch from the front after a short one past the mark:
				// the jobs taken stand, their budgets written.
				params.RateWait = 0
				return c.claimed, true, nil
			}
			switch plain {
			case "rate":
				for _, kind := range kinds {
					s.rateRoom.Store(kind, 0)
				}
			case "due":
				skip, _ := s.rateDueSkip.LoadOrStore(params.Queue, new(atomic.Int32))
				skip.(*atomic.Int32).Store(rateDueSkipClaims)
			case "isolation":
				s.rateIsolationSkip.Store(rateIsolationSkipClaims)
			case "nostate":
				if _, err := s.pool.Exec(ctx, s.sql(sqlRateStateNeutral), kinds[0], budgetsAt); err != nil {
					return nil, false, err
				}
			}
			return nil, false, nil
		}
		got := c.claimed[n:]
		if marked {
			s.claimMarks.done(key, from, c.now, want, got)
		}
		if !from.marked || len(got) >= want {
			params.RateWait = 0
			return c.claimed, true, nil
		}
		want -= len(got) // from the front: done dropped the mark
	}
}
