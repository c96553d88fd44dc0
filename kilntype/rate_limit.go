package kilntype

import (
	"fmt"
	"math"
	"time"
)

// RateLimit is a budget of job starts: at most Limit jobs of a kind (or of
// one partition key of a kind) started per Period, plus Burst, across
// every process sharing the store. The zero value limits nothing.
//
// The budget is kept with GCRA, the generic cell rate algorithm (ITU-T
// I.371; as in Brandur Leach's throttled and redis-cell): one theoretical
// arrival time (TAT) per budget, advanced by the emission interval
// Period/Limit (rounded up to a microsecond) for each job started. A start
// at time t conforms while TAT - t <= Burst × interval once it is counted,
// so the budget is a token bucket that holds Burst+1 starts and gains one
// every interval. In any window of length Period (half-open) at most
// Limit + Burst jobs start; with Burst 0 at most Limit, one per interval.
// When a limit is set at run time, the budget's debt of time is cut to the
// new limit's full bucket (store.RateLimitStore.RateLimitSet): a raised
// limit applies at once, and a lowered one counts the starts already made
// at their old cost.
//
// It is safe to copy; its methods do not modify it.
type RateLimit struct {
	// Limit is how many jobs may start per Period: at least 1, or 0 for
	// no limit (with Period 0).
	Limit int `json:"limit"`
	// Period is the window of Limit; at least a microsecond, at most
	// MaxRateLimitPeriod.
	Period time.Duration `json:"period"`
	// Burst is how many more jobs than the steady rate may start at once
	// after an idle spell (redis-cell's max_burst): 0 (the zero value)
	// spaces starts evenly, one per Period/Limit.
	Burst int `json:"burst"`
}

// MaxRateLimitPeriod bounds RateLimit.Period.
const MaxRateLimitPeriod = 366 * 24 * time.Hour

// MaxRateLimitBucket bounds RateLimit.Bucket, the time a spent budget
// takes to fill again, (Burst+1) × Interval: 100 years of 365 days. A
// longer bucket would not fit the durations the budget is computed in
// (about 292 years), and a budget capped there would never run out.
const MaxRateLimitBucket = 100 * 365 * 24 * time.Hour

// maxRateLimitCount bounds RateLimit.Limit and RateLimit.Burst.
const maxRateLimitCount = 1 << 30

// Enabled reports whether r limits anything: a positive Limit.
func (r RateLimit) Enabled() bool { return r.Limit > 0 }

// Validate returns a *ValidationError (Field "limit", "period" or
// "burst") when r is neither the zero value nor a limit with Limit from 1
// to 2^30, Period a whole number of microseconds from one to
// MaxRateLimitPeriod (the stores keep microseconds) and Burst from 0 to
// 2^30 with a Bucket of at most MaxRateLimitBucket.
func (r RateLimit) Validate() error {
	switch {
	case r == RateLimit{}:
		return nil
	case r.Limit < 1 || r.Limit > maxRateLimitCount:
		return &ValidationError{Field: "limit", Message: fmt.Sprintf("%d is out of range 1 to %d", r.Limit, maxRateLimitCount)}
	case r.Period < time.Microsecond || r.Period > MaxRateLimitPeriod:
		return &ValidationError{Field: "period", Message: fmt.Sprintf("%v is out of range 1µs to %v", r.Period, MaxRateLimitPeriod)}
	case r.Period%time.Microsecond != 0:
		return &ValidationError{Field: "period", Message: fmt.Sprintf("%v is not a whole number of microseconds", r.Period)}
	case r.Burst < 0 || r.Burst > maxRateLimitCount:
		return &ValidationError{Field: "burst", Message: fmt.Sprintf("%d is out of range 0 to %d", r.Burst, maxRateLimitCount)}
	case int64(r.Burst)+1 > int64(MaxRateLimitBucket/r.Interval()):
		return &ValidationError{Field: "burst", Message: fmt.Sprintf(
			"%d is too large for an interval of %v: a spent budget would take (burst+1) × interval, more than %d days, to fill (at most %d)",
			r.Burst, r.Interval(), MaxRateLimitBucket/(24*time.Hour), int64(MaxRateLimitBucket/r.Interval())-1)}
	}
	return nil
}

// Bucket returns the time a spent budget takes to fill again, the full
// bucket of GCRA: (Burst+1) × Interval, at most MaxRateLimitBucket for a
// limit that Validate accepts (the largest Duration if the product
// overflows); 0 when r is not Enabled.
func (r RateLimit) Bucket() time.Duration {
	return mulDuration(r.Burst+1, r.Interval())
}

// Interval is GCRA's emission interval: Period/Limit, rounded up to a
// microsecond (so Limit starts never take less than Period); 0 when r is
// not Enabled.
func (r RateLimit) Interval() time.Duration {
	if !r.Enabled() {
		return 0
	}
	us := int64(r.Period / time.Microsecond)
	n := int64(r.Limit)
	return time.Duration((us+n-1)/n) * time.Microsecond
}

// mulDuration returns n × d for n, d ≥ 0, or the largest Duration when
// that overflows (a bucket of Burst 2^30 at an interval of a year does):
// no bucket, debt or slot is then computed from a wrapped product.
func mulDuration(n int, d time.Duration) time.Duration {
	if n > 0 && d > math.MaxInt64/time.Duration(n) {
		return math.MaxInt64
	}
	return time.Duration(n) * d
}

// ceilDiv returns ⌈d ÷ iv⌉ for d ≥ 0 and iv > 0, without overflow.
func ceilDiv(d, iv time.Duration) int64 {
	q := int64(d / iv)
	if d%iv != 0 {
		q++
	}
	return q
}

// debt returns how far tat is ahead of now, at most the time of a full
// bucket (Bucket): more (a claim that read its time before another's, or
// a budget spent under another limit) leaves no allowance either way.
func (r RateLimit) debt(tat, now time.Time) time.Duration {
	return min(max(tat.Sub(now), 0), r.Bucket())
}

// Allowance returns how many jobs may start at now under a budget whose
// theoretical arrival time is tat (the zero time: a full budget): from 0
// to Burst+1. It is Burst + 1 − ⌈debt ÷ Interval⌉, at least 0: the whole
// intervals of the bucket's room, (Burst+1) × Interval − debt, computed
// without the product (which overflows a Duration for a Burst of 2^30 at
// an interval of a day). The PostgreSQL store's one-round claim tests the
// same in SQL (TestClaimRateGuardMatchesGo).
func (r RateLimit) Allowance(tat, now time.Time) int {
	iv := r.Interval()
	if iv <= 0 {
		return 0
	}
	used := ceilDiv(max(tat.Sub(now), 0), iv)
	return int(max(int64(r.Burst)+1-used, 0))
}

// Take returns the theoretical arrival time after n jobs start at now
// under a budget at tat: now + its debt + n × Interval.
func (r RateLimit) Take(tat, now time.Time, n int) time.Time {
	return now.Add(r.debt(tat, now)).Add(mulDuration(n, r.Interval()))
}

// Used returns how much of the budget at tat is in use at now: the starts
// that the budget has not yet regained, from 0 to Burst+1 (a start is
// regained one Interval after the previous one is).
func (r RateLimit) Used(tat, now time.Time) int {
	iv := r.Interval()
	if iv <= 0 {
		return 0
	}
	return int(ceilDiv(r.debt(tat, now), iv))
}

// NextSlot returns when the budget at tat lets the next job start: now if
// it lets one start at now, else the time that its debt has shrunk to
// Burst intervals.
func (r RateLimit) NextSlot(tat, now time.Time) time.Time {
	if r.Allowance(tat, now) > 0 {
		return now
	}
	return now.Add(r.debt(tat, now) - mulDuration(r.Burst, r.Interval()))
}

// String returns r as "Limit/Period" with "+Burst" when Burst is not 0,
// such as "10/1m0s+5", or "none" for the zero value.
func (r RateLimit) String() string {
	if !r.Enabled() {
		return "none"
	}
	if r.Burst == 0 {
		return fmt.Sprintf("%d/%v", r.Limit, r.Period)
	}
	return fmt.Sprintf("%d/%v+%d", r.Limit, r.Period, r.Burst)
}

// RateLimitState is a rate limit as a client, the HTTP API, the CLI and the
// dashboard show it: the limit in force for a kind (or for each partition
// key of a kind) and the state of its budget.
type RateLimitState struct {
	// Kind is the job kind the limit applies to.
	Kind string `json:"kind"`
	// PerKey says that each partition key of the kind has a budget of its
	// own (EnqueueOpts.Partition); false: one budget for the whole kind.
	PerKey bool `json:"per_key"`
	// Limit is the limit in force: Override when set, else Default.
	Limit RateLimit `json:"limit"`
	// Default is the limit the kind's worker declares in code (zero: none,
	// or the worker is not registered with the client that answers).
	Default RateLimit `json:"default"`
	// Override is the limit set at run time (Client.RateLimitSet), which
	// beats Default until removed; nil: none.
	Override *RateLimit `json:"override,omitempty"`
	// UpdatedAt is when Override was last set; nil without one.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
	// Used is how many of the budget's Limit.Burst+1 starts are in use
	// (RateLimit.Used); for a per-key limit, the busiest key's.
	Used int `json:"used"`
	// NextSlot is when the next job may start: At when one may start now.
	// For a per-key limit, when the busiest key's next job may.
	NextSlot time.Time `json:"next_slot"`
	// At is when the state was read, on the store's clock.
	At time.Time `json:"at"`
}
