package kilntype

import (
	"errors"
	"math/big"
	"testing"
	"time"
)

func TestRateLimitGCRA(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := RateLimit{Limit: 3, Period: time.Second, Burst: 1}
	if iv := r.Interval(); iv != 333334*time.Microsecond {
		t.Fatalf("Interval = %v; want 333.334ms (rounded up)", iv)
	}
	if n := r.Allowance(time.Time{}, t0); n != 2 {
		t.Fatalf("full budget: Allowance = %d; want Burst+1 = 2", n)
	}
	tat := r.Take(time.Time{}, t0, 2)
	if n := r.Allowance(tat, t0); n != 0 || r.Used(tat, t0) != 2 {
		t.Fatalf("spent budget: Allowance = %d, Used = %d; want 0, 2", r.Allowance(tat, t0), r.Used(tat, t0))
	}
	next := r.NextSlot(tat, t0)
	if want := t0.Add(r.Interval()); !next.Equal(want) {
		t.Fatalf("NextSlot = %v; want %v", next, want)
	}
	if n := r.Allowance(tat, next.Add(-time.Microsecond)); n != 0 {
		t.Fatalf("just before the next slot: Allowance = %d; want 0", n)
	}
	if n := r.Allowance(tat, next); n != 1 {
		t.Fatalf("at the next slot: Allowance = %d; want 1", n)
	}
	// A raised limit applies at once: the debt is capped at its bucket.
	fast := RateLimit{Limit: 1000, Period: time.Second}
	if n := fast.Allowance(t0.Add(time.Hour), t0); n != 0 || !fast.NextSlot(t0.Add(time.Hour), t0).Equal(t0.Add(time.Millisecond)) {
		t.Fatalf("raised limit: Allowance %d, NextSlot %v; want 0, 1ms on", n, fast.NextSlot(t0.Add(time.Hour), t0))
	}
	for _, bad := range []RateLimit{{Limit: -1, Period: time.Second}, {Limit: 1}, {Limit: 1, Period: time.Second, Burst: -1}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) = nil", bad)
		}
	}
	if (RateLimit{}).Validate() != nil || (RateLimit{}).String() != "none" || r.String() != "3/1s+1" {
		t.Fatal("zero value or String")
	}
}

// rateLimitEdges are limits at the ends of RateLimit's ranges: Burst 0, 1
// and 2^30, an interval of a microsecond and of MaxRateLimitPeriod, a
// Period that Limit does not divide (the interval rounded up).
var rateLimitEdges = []RateLimit{
	{Limit: 1, Period: time.Microsecond},
	{Limit: 1 << 30, Period: time.Microsecond, Burst: 1 << 30},
	{Limit: 3, Period: 7 * time.Microsecond, Burst: 1},
	{Limit: 1000, Period: time.Second},
	{Limit: 1000, Period: time.Second, Burst: 1000},
	{Limit: 7, Period: time.Hour, Burst: 5},
	{Limit: 1, Period: MaxRateLimitPeriod},
	{Limit: 1, Period: MaxRateLimitPeriod, Burst: 1},
	{Limit: 1, Period: MaxRateLimitPeriod, Burst: 98},
	{Limit: 1, Period: 24 * time.Hour, Burst: 36499},
	{Limit: 1 << 30, Period: MaxRateLimitPeriod, Burst: 1 << 30},
}

// TestRateLimitAllowanceEdges checks Allowance, Used and Take against
// their definitions computed in big integers (the largest k ≤ Burst+1
// with debt + k × Interval ≤ (Burst+1) × Interval) for the limits at the
// ends of the ranges and budgets from full to far past the bucket: a
// (Burst+1) × Interval past a Duration's range (Burst 2^30 at an interval
// of a day or a year) wrapped, and gave allowances of 0 or of more than
// Burst+1.
func TestRateLimitAllowanceEdges(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range rateLimitEdges {
		if err := r.Validate(); err != nil {
			t.Fatalf("%v: %v", r, err)
		}
		iv := r.Interval()
		bIV := big.NewInt(int64(iv))
		full := new(big.Int).Mul(big.NewInt(int64(r.Burst)+1), bIV)
		for _, ahead := range []time.Duration{-time.Hour, 0, 1, time.Microsecond, iv - 1, iv, iv + 1, 5 * iv,
			time.Hour, 100 * 365 * 24 * time.Hour} {
			tat := now.Add(ahead)
			d := big.NewInt(int64(max(ahead, 0)))
			// want: the largest k in [0, Burst+1] with d + k·iv <= full.
			room := new(big.Int).Sub(full, d)
			want := int64(0)
			if room.Sign() > 0 {
				want = new(big.Int).Quo(room, bIV).Int64()
			}
			if got := r.Allowance(tat, now); int64(got) != want {
				t.Errorf("%v, tat now+%v: Allowance = %d; want %d", r, ahead, got, want)
			}
			// Used: ⌈min(d, full) ÷ iv⌉.
			debt := d
			if debt.Cmp(full) > 0 {
				debt = full
			}
			used := new(big.Int).Add(debt, new(big.Int).Sub(bIV, big.NewInt(1)))
			used.Quo(used, bIV)
			if got := r.Used(tat, now); int64(got) != used.Int64() {
				t.Errorf("%v, tat now+%v: Used = %d; want %d", r, ahead, got, used.Int64())
			}
			if want > 0 && ahead >= 0 {
				// Taking one job past a budget with room: one interval
				// past max(tat, now), as the PostgreSQL claim's budget
				// writes it.
				if got, want := r.Take(tat, now, 1), now.Add(ahead).Add(iv); !got.Equal(want) {
					t.Errorf("%v, tat now+%v: Take(1) = %v; want %v", r, ahead, got, want)
				}
			}
		}
	}
}

// TestRateLimitBucketBound: Validate refuses a Burst whose bucket,
// (Burst+1) × Interval, is longer than MaxRateLimitBucket (field
// "burst"), and accepts the largest that is not, whose Bucket is then
// exact. A bucket past a Duration's range (a thousand years at one job
// per 366 days) used to be accepted and capped at about 292 years, so
// that the budget never ran out.
func TestRateLimitBucketBound(t *testing.T) {
	for _, r := range []RateLimit{
		{Limit: 1, Period: MaxRateLimitPeriod, Burst: 1000},
		{Limit: 1, Period: MaxRateLimitPeriod, Burst: 99},
		{Limit: 1, Period: 24 * time.Hour, Burst: 36500},
		{Limit: 1, Period: 24 * time.Hour, Burst: 1 << 30},
	} {
		var ve *ValidationError
		if err := r.Validate(); !errors.As(err, &ve) || ve.Field != "burst" {
			t.Errorf("Validate(%v) = %v; want a *ValidationError of field burst", r, err)
		}
	}
	for _, r := range rateLimitEdges {
		want := new(big.Int).Mul(big.NewInt(int64(r.Burst)+1), big.NewInt(int64(r.Interval())))
		if got := r.Bucket(); big.NewInt(int64(got)).Cmp(want) != 0 || got > MaxRateLimitBucket {
			t.Errorf("%v: Bucket = %v; want %v, at most %v", r, got, want, MaxRateLimitBucket)
		}
	}
	// The largest Burst at an interval of 366 days: 99 × 366 days.
	if r := (RateLimit{Limit: 1, Period: MaxRateLimitPeriod, Burst: 98}); r.Validate() != nil || r.Bucket() != 99*MaxRateLimitPeriod {
		t.Errorf("%v: Validate %v, Bucket %v", r, r.Validate(), r.Bucket())
	}
}

// TestRateLimitPeriodMicroseconds: Validate refuses a Period that is not a
// whole number of microseconds (field "period"), which the stores, which
// keep microseconds, would have cut short: 1 per 1.5µs read back as 1 per
// 1µs, and Interval came out shorter than Period ÷ Limit.
func TestRateLimitPeriodMicroseconds(t *testing.T) {
	for _, p := range []time.Duration{1500 * time.Nanosecond, time.Hour + 999, 1999 * time.Nanosecond} {
		var ve *ValidationError
		if err := (RateLimit{Limit: 1, Period: p}).Validate(); !errors.As(err, &ve) || ve.Field != "period" {
			t.Errorf("Validate(1/%v) = %v; want a *ValidationError of field period", p, err)
		}
	}
	for _, r := range rateLimitEdges {
		if iv := r.Interval(); time.Duration(r.Limit)*iv < r.Period {
			t.Errorf("%v: Limit × Interval = %v, less than Period", r, time.Duration(r.Limit)*iv)
		}
	}
}
