package kilntype

import (
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
