package schedule

import (
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that its errors carry the
// package prefix, and that every schedule it accepts round-trips through
// String and fires at strictly increasing times, the same before and after
// the round trip, around DST transitions included.
func FuzzParse(f *testing.F) {
	seeds := []struct{ spec, tz string }{
		{"* * * * *", ""},
		{"*/15 * * * *", "America/New_York"},
		{"30 2 * * *", "America/New_York"},
		{"30 1 * * *", "Europe/Berlin"},
		{"0 * * * *", "Australia/Lord_Howe"},
		{"45 1 * * *", "Australia/Lord_Howe"},
		{"0 0 * * *", "America/Santiago"},
		{"0 30 9 * * MON-FRI", "Australia/Sydney"},
		{"0 0 29 2 *", "Asia/Kolkata"},
		{"0 0 13 * FRI", "UTC"},
		{"5/15 22-2 */3 nov-feb sat,sun", "Europe/London"},
		{"@yearly", ""},
		{"@midnight", "America/Havana"},
		{"@every 1h30m", ""},
		{"@every 1.5s from 2030-01-01T00:00:00.25+05:30", ""},
		{"@every 2540400h", "Pacific/Apia"},
		// Invalid ones.
		{"61 * * * *", ""},
		{"0 0 30 2 *", ""},
		{"* * * *", ""},
		{"1-2-3 */0 ? L W", ""},
		{"TZ=UTC * * * * *", ""},
		{"@every 500ms", ""},
		{"@every 1h from yesterday", ""},
		{"@reboot", ""},
		{"0 9 * * *", "Mars/Base"},
		{"0 9 * * *", "Local"},
		{"0 9 * * *", "../../etc/passwd"},
		{"", ""},
	}
	for _, s := range seeds {
		f.Add(s.spec, s.tz)
	}
	// Start times just before the seed zones' 2026 transitions, and plain ones.
	starts := []time.Time{
		time.Date(2026, 3, 8, 5, 0, 0, 0, time.UTC),    // New York spring
		time.Date(2026, 10, 25, 0, 0, 0, 0, time.UTC),  // Berlin fall
		time.Date(2026, 4, 4, 14, 0, 0, 0, time.UTC),   // Lord Howe / Sydney fall
		time.Date(2026, 10, 3, 15, 0, 0, 0, time.UTC),  // Lord Howe / Sydney spring
		time.Date(2026, 9, 6, 3, 0, 0, 0, time.UTC),    // Santiago spring
		time.Date(2040, 12, 31, 12, 0, 0, 0, time.UTC), // see TestNextOnLastDayOfLeapYears
		time.Date(1999, 12, 31, 23, 59, 59, 999, time.UTC),
		time.Date(1883, 11, 18, 16, 0, 0, 0, time.UTC), // local mean time ends in the US
		time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		{},
	}
	f.Fuzz(func(t *testing.T, spec, tz string) {
		s, err := Parse(spec, tz)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "schedule: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		canonical := s.String()
		again, err := Parse(canonical, tz)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q does not parse: %v", spec, canonical, err)
		}
		if again.String() != canonical {
			t.Fatalf("String not stable: %q -> %q -> %q", spec, canonical, again.String())
		}
		_ = Describe(spec)
		for _, start := range starts {
			prev := start
			for range 6 {
				next := s.Next(prev)
				if next.IsZero() {
					t.Fatalf("%q (%s): no fire time after %v", spec, tz, prev)
				}
				if !next.After(prev) {
					t.Fatalf("%q (%s): Next(%v) = %v, not after", spec, tz, prev, next)
				}
				if other := again.Next(prev); !other.Equal(next) {
					t.Fatalf("%q (%s): after round trip Next(%v) = %v, before %v", spec, tz, prev, other, next)
				}
				prev = next
			}
		}
	})
}
