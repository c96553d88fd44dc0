package schedule

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHelpers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		got, want string
		after     string
		next      []string
	}{
		{Minutely(), "* * * * *", "2026-05-01T10:00:00Z", []string{"2026-05-01T10:01:00Z"}},
		{Hourly(15), "15 * * * *", "2026-05-01T10:20:00Z", []string{"2026-05-01T11:15:00Z"}},
		{Daily(9, 30), "30 9 * * *", "2026-05-01T10:00:00Z", []string{"2026-05-02T09:30:00Z"}},
		{Weekly(time.Monday, 8, 0), "0 8 * * 1", "2026-05-01T00:00:00Z", []string{"2026-05-04T08:00:00Z"}},
		{Weekly(time.Sunday, 0, 0), "0 0 * * 0", "2026-05-01T00:00:00Z", []string{"2026-05-03T00:00:00Z"}},
		{Monthly(31, 23, 59), "59 23 31 * *", "2026-04-01T00:00:00Z", []string{"2026-05-31T23:59:00Z", "2026-07-31T23:59:00Z"}},
		{Yearly(time.February, 29, 12, 0), "0 12 29 2 *", "2026-01-01T00:00:00Z", []string{"2028-02-29T12:00:00Z"}},
		{Yearly(time.December, 25, 6, 5), "5 6 25 12 *", "2026-01-01T00:00:00Z", []string{"2026-12-25T06:05:00Z"}},
		{Interval(0, 0, 15), "@every 15m", "2026-05-01T10:01:00Z", []string{"2026-05-01T10:15:00Z"}},
		{Interval(0, 1, 30), "@every 1h30m", "2026-05-01T00:00:00Z", []string{"2026-05-01T01:30:00Z"}},
		{Interval(0, 0, 90), "@every 1h30m", "2026-05-01T00:00:00Z", []string{"2026-05-01T01:30:00Z"}},
		{Interval(1, 2, 30), "@every 26h30m", "1970-01-01T00:00:00Z", []string{"1970-01-02T02:30:00Z"}},
		{Interval(7, 0, 0), "@every 168h", "1970-01-01T00:00:00Z", []string{"1970-01-08T00:00:00Z"}},
		// Counted from the epoch, Interval(1, 2, 30)'s next run after a
		// definition at 2026-05-01T10:00Z is 15 hours away, not 26h30m...
		{Interval(1, 2, 30), "@every 26h30m", "2026-05-01T10:00:00Z", []string{"2026-05-02T01:00:00Z", "2026-05-03T03:30:00Z"}},
		// ...and counted from the definition with IntervalFrom.
		{IntervalFrom(1, 2, 30, time.Date(2026, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))),
			"@every 26h30m from 2026-05-01T10:00:00Z", "2026-05-01T10:00:00Z",
			[]string{"2026-05-02T12:30:00Z", "2026-05-03T15:00:00Z"}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("helper returned %q, want %q", tt.got, tt.want)
			continue
		}
		s := mustParse(t, tt.got, "")
		if s.String() != tt.want {
			t.Errorf("Parse(%q).String() = %q", tt.want, s.String())
		}
		checkNext(t, s, utc(t, tt.after), tt.next...)
	}
}

func TestHelpersOutOfRange(t *testing.T) {
	t.Parallel()
	tests := []struct{ spec, field string }{
		{Hourly(60), "minute field"},
		{Daily(24, 0), "hour field"},
		{Daily(-1, 0), "hour field"},
		{Weekly(time.Weekday(9), 0, 0), "day-of-week field"},
		{Monthly(32, 0, 0), "day-of-month field"},
		{Monthly(0, 0, 0), "day-of-month field"},
		{Yearly(time.Month(13), 1, 0, 0), "month field"},
		{Yearly(time.February, 30, 0, 0), "day-of-month field: day 30 never occurs in month 2"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.spec, "")
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("Parse(%q) error = %v, want one naming %q", tt.spec, err, tt.field)
		}
	}
	// huge is 2^62 days where int is 64 bits wide, 2^30 where it is 32.
	const huge = 1 << (strconv.IntSize - 2)
	for _, spec := range []string{Interval(0, 0, 0), Interval(0, 0, -5), Interval(huge, 0, 0), Interval(-huge, 0, 0)} {
		if _, err := Parse(spec, ""); err == nil {
			t.Errorf("Parse(%q) succeeded, want an error", spec)
		}
	}
	want := map[int]string{64: "@every 66", 32: "@every 1546"}[strconv.IntSize] // 2^62 or 2^30 days in minutes
	if got := Interval(huge, 0, 0); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "m") {
		t.Errorf("Interval(huge) = %q, want the exact minute count", got)
	}
}
