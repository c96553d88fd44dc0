package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestEvery(t *testing.T) {
	t.Parallel()
	s, err := Every(90 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "@every 1h30m" {
		t.Errorf("String() = %q", got)
	}
	// Anchored at the Unix epoch: 2026-05-01T00:00Z is 20574 days after
	// it, a multiple of 90 minutes, so fires fall on it.
	checkNext(t, s, utc(t, "2026-04-30T23:59:59Z"), "2026-05-01T00:00:00Z", "2026-05-01T01:30:00Z", "2026-05-01T03:00:00Z")
	checkNext(t, s, utc(t, "2026-05-01T00:00:00Z"), "2026-05-01T01:30:00Z")
	// Two instances agree: the anchor is fixed, not "now".
	other, err := Every(90 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	after := utc(t, "2026-07-14T10:11:12.5Z")
	if a, b := s.Next(after), other.Next(after); !a.Equal(b) {
		t.Errorf("instances disagree: %v vs %v", a, b)
	}
	// Before the epoch the first fire is the epoch itself.
	checkNext(t, s, utc(t, "1960-01-01T00:00:00Z"), "1970-01-01T00:00:00Z")

	sec, err := Every(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	checkNext(t, sec, utc(t, "2026-05-01T00:00:00.25Z"), "2026-05-01T00:00:01Z", "2026-05-01T00:00:02Z")
	frac, err := Every(1500 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	checkNext(t, frac, utc(t, "1970-01-01T00:00:00Z"), "1970-01-01T00:00:01.5Z", "1970-01-01T00:00:03Z")
}

func TestEveryFrom(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// The anchor may be in any zone and carry a monotonic reading; it is
	// kept as an instant in UTC.
	anchor := time.Date(2030, 1, 1, 1, 0, 0, 0, berlin)
	s, err := EveryFrom(90*time.Minute, anchor)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.String(), "@every 1h30m from 2030-01-01T00:00:00Z"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	back := mustParse(t, s.String(), "")
	if back.String() != s.String() {
		t.Errorf("round trip: %q", back.String())
	}
	checkNext(t, s, utc(t, "2026-01-01T00:00:00Z"), "2030-01-01T00:00:00Z", "2030-01-01T01:30:00Z")
	checkNext(t, s, utc(t, "2030-01-01T00:00:00Z"), "2030-01-01T01:30:00Z")
	checkNext(t, s, utc(t, "2030-01-01T01:29:59.999999999Z"), "2030-01-01T01:30:00Z")
	checkNext(t, s, utc(t, "2031-01-01T00:00:00Z"), "2031-01-01T01:30:00Z")

	withMono, err := EveryFrom(time.Hour, time.Now()) // only String is checked
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(withMono.String(), "m=") {
		t.Errorf("String() leaks the monotonic reading: %q", withMono)
	}

	// A zero anchor means the epoch, as for Every.
	zero, err := EveryFrom(time.Hour, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if zero.String() != "@every 1h" {
		t.Errorf("zero anchor: String() = %q", zero)
	}
	// An anchor with sub-second precision survives the round trip.
	precise, err := EveryFrom(time.Minute, utc(t, "2030-01-01T00:00:00.123456789Z"))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustParse(t, precise.String(), "").Next(time.Time{}); !got.Equal(utc(t, "2030-01-01T00:00:00.123456789Z")) {
		t.Errorf("precise anchor round trip: first fire %v", got)
	}
}

func TestIntervalFarTimes(t *testing.T) {
	t.Parallel()
	s, err := EveryFrom(7*time.Second, utc(t, "2000-01-01T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	// Further from the anchor than a time.Duration reaches (292 years).
	after := utc(t, "9000-06-01T12:00:00Z")
	next := s.Next(after)
	if !next.After(after) || next.Sub(after) > 7*time.Second {
		t.Fatalf("Next(%v) = %v", after, next)
	}
	// On the grid: (next - anchor) is a multiple of 7s, checked in two
	// parts that each fit a Duration.
	mid := utc(t, "5000-01-01T00:00:00Z")
	first := s.Next(mid.Add(-time.Nanosecond)) // first fire at or after mid
	if r := first.Sub(mid); r < 0 || r >= 7*time.Second {
		t.Fatalf("Next near %v = %v", mid, first)
	}
	anchorUnix := utc(t, "2000-01-01T00:00:00Z").Unix()
	for _, fire := range []time.Time{first, next} {
		if (fire.Unix()-anchorUnix)%7 != 0 || fire.Nanosecond() != 0 {
			t.Errorf("fire time %v is not on the 7s grid from the anchor", fire)
		}
	}
	// Past the end of time.Time's range there is no next fire.
	if got := s.Next(time.Unix(1<<62, 0)); !got.IsZero() {
		t.Errorf("Next at the end of time = %v, want zero", got)
	}
	// Before the anchor, at the far start of time.Time's range.
	if got := s.Next(time.Unix(-1<<62, 0)); !got.Equal(utc(t, "2000-01-01T00:00:00Z")) {
		t.Errorf("Next long before the anchor = %v", got)
	}
}

func TestIntervalErrors(t *testing.T) {
	t.Parallel()
	if _, err := Every(999 * time.Millisecond); err == nil || err.Error() != "schedule: interval 999ms below the minimum of 1s" {
		t.Errorf("Every(999ms) error = %v", err)
	}
	if _, err := Every(-time.Hour); err == nil || !strings.Contains(err.Error(), "below the minimum of 1s") {
		t.Errorf("Every(-1h) error = %v", err)
	}
	if _, err := EveryFrom(0, utc(t, "2030-01-01T00:00:00Z")); err == nil || err.Error() != "schedule: interval 0s below the minimum of 1s" {
		t.Errorf("EveryFrom(0) error = %v", err)
	}
	if _, err := EveryFrom(time.Hour, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil ||
		err.Error() != "schedule: interval anchor year 10000 out of range 1-9999" {
		t.Errorf("EveryFrom(year 10000) error = %v", err)
	}
	if _, err := Parse("@every 1h from 0001-01-01T00:00:00+01:00", ""); err == nil ||
		!strings.HasSuffix(err.Error(), "interval anchor year 0 out of range 1-9999") {
		t.Errorf("anchor in year 0: %v", err)
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		time.Second:                        "1s",
		90 * time.Second:                   "1m30s",
		time.Hour:                          "1h",
		time.Hour + time.Second:            "1h1s",
		26*time.Hour + 30*time.Minute:      "26h30m",
		1500 * time.Millisecond:            "1.5s",
		time.Minute + 500*time.Millisecond: "1m500ms",
		time.Hour + time.Nanosecond:        "1h1ns",
		time.Duration(1<<63 - 1):           "2562047h47m16.854775807s",
		0:                                  "0s",
		-time.Minute:                       "-1m0s",
	} {
		got := formatDuration(d)
		if got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, back, err, d)
		}
	}
}
