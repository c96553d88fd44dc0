package schedule

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	// The zone database is embedded so that the zone and DST tests do not
	// depend on the machine's /usr/share/zoneinfo.
	_ "time/tzdata"
)

// utc parses an RFC 3339 time for tests.
func utc(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return v
}

func mustParse(t testing.TB, spec, tz string) Schedule {
	t.Helper()
	s, err := Parse(spec, tz)
	if err != nil {
		t.Fatalf("Parse(%q, %q): %v", spec, tz, err)
	}
	return s
}

// formatTimes renders times in RFC 3339 for comparisons and messages.
func formatTimes(ts []time.Time) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Format(time.RFC3339Nano)
	}
	return out
}

// checkNext asserts that the first len(want) fire times after after are
// want, that they are in UTC, and that each is strictly after the last.
func checkNext(t *testing.T, s Schedule, after time.Time, want ...string) {
	t.Helper()
	got := NextN(s, after, len(want))
	if !slices.Equal(formatTimes(got), want) {
		t.Errorf("%q after %s:\n got %v\nwant %v", s, after.Format(time.RFC3339), formatTimes(got), want)
	}
	prev := after
	for _, g := range got {
		if g.Location() != time.UTC {
			t.Errorf("%q: fire time %v is not in UTC", s, g)
		}
		if !g.After(prev) {
			t.Errorf("%q: fire time %v not after %v", s, g, prev)
		}
		prev = g
	}
}

func TestParseForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, spec, tz, after string
		want                  []string
	}{
		{"every minute", "* * * * *", "", "2026-05-01T10:00:30Z",
			[]string{"2026-05-01T10:01:00Z", "2026-05-01T10:02:00Z", "2026-05-01T10:03:00Z"}},
		{"step", "*/20 * * * *", "", "2026-05-01T10:00:00Z",
			[]string{"2026-05-01T10:20:00Z", "2026-05-01T10:40:00Z", "2026-05-01T11:00:00Z"}},
		{"list and range", "0 9-10,17 * * *", "", "2026-05-01T09:30:00Z",
			[]string{"2026-05-01T10:00:00Z", "2026-05-01T17:00:00Z", "2026-05-02T09:00:00Z"}},
		{"range with step", "10-40/15 * * * *", "", "2026-05-01T10:00:00Z",
			[]string{"2026-05-01T10:10:00Z", "2026-05-01T10:25:00Z", "2026-05-01T10:40:00Z", "2026-05-01T11:10:00Z"}},
		{"start with step", "50/5 * * * *", "", "2026-05-01T10:00:00Z",
			[]string{"2026-05-01T10:50:00Z", "2026-05-01T10:55:00Z", "2026-05-01T11:50:00Z"}},
		{"wrapping hour range", "0 22-1 * * *", "", "2026-05-01T12:00:00Z",
			[]string{"2026-05-01T22:00:00Z", "2026-05-01T23:00:00Z", "2026-05-02T00:00:00Z", "2026-05-02T01:00:00Z", "2026-05-02T22:00:00Z"}},
		{"weekday names", "30 9 * * mon-FRI", "", "2026-05-01T12:00:00Z", // a Friday
			[]string{"2026-05-04T09:30:00Z", "2026-05-05T09:30:00Z"}},
		{"thursday by name", "0 12 * * THU", "", "2026-05-01T00:00:00Z",
			[]string{"2026-05-07T12:00:00Z", "2026-05-14T12:00:00Z"}},
		{"wrapping weekday range", "0 0 * * FRI-MON", "", "2026-05-04T12:00:00Z", // a Monday
			[]string{"2026-05-08T00:00:00Z", "2026-05-09T00:00:00Z", "2026-05-10T00:00:00Z", "2026-05-11T00:00:00Z", "2026-05-15T00:00:00Z"}},
		{"sunday as 7", "0 0 * * 7", "", "2026-05-01T00:00:00Z",
			[]string{"2026-05-03T00:00:00Z", "2026-05-10T00:00:00Z"}},
		{"month names", "0 0 1 jan,Jul *", "", "2026-05-01T00:00:00Z",
			[]string{"2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"day 31 skips short months", "0 0 31 * *", "", "2026-04-01T00:00:00Z",
			[]string{"2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"}},
		{"29 February", "0 0 29 2 *", "", "2026-01-01T00:00:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"29 February across 2100", "0 0 29 2 *", "", "2097-01-01T00:00:00Z",
			[]string{"2104-02-29T00:00:00Z"}},
		{"question mark", "0 0 ? * ?", "", "2026-05-01T00:00:00Z",
			[]string{"2026-05-02T00:00:00Z"}},
		// Both day fields restricted: either matches (POSIX, Vixie cron).
		{"day of month or weekday", "0 0 13 * WED", "", "2026-02-01T00:00:00Z", // 13 Feb is a Friday
			[]string{"2026-02-04T00:00:00Z", "2026-02-11T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-18T00:00:00Z", "2026-02-25T00:00:00Z", "2026-03-04T00:00:00Z"}},
		// A day field starting with "*" does not make it "either": both apply.
		// Days 1, 11, 21 and 31 that are Mondays (1 June 2026 is one).
		{"stepped star day field", "0 0 */10 * MON", "", "2026-06-01T00:00:00Z",
			[]string{"2026-08-31T00:00:00Z", "2026-09-21T00:00:00Z"}},
		{"seconds field", "*/20 * * * * *", "", "2026-05-01T10:00:00Z",
			[]string{"2026-05-01T10:00:20Z", "2026-05-01T10:00:40Z", "2026-05-01T10:01:00Z"}},
		{"seconds fixed", "30 15 10 * * *", "", "2026-05-01T10:00:00Z",
			[]string{"2026-05-01T10:15:30Z", "2026-05-02T10:15:30Z"}},
		{"yearly", "@yearly", "", "2026-05-01T00:00:00Z", []string{"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
		{"annually", "@annually", "", "2026-05-01T00:00:00Z", []string{"2027-01-01T00:00:00Z"}},
		{"monthly", "@monthly", "", "2026-05-01T00:00:00Z", []string{"2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z"}},
		{"weekly", "@weekly", "", "2026-05-01T00:00:00Z", []string{"2026-05-03T00:00:00Z", "2026-05-10T00:00:00Z"}},
		{"daily", "@daily", "", "2026-05-01T00:00:00Z", []string{"2026-05-02T00:00:00Z"}},
		{"midnight", "@midnight", "", "2026-05-01T00:00:00Z", []string{"2026-05-02T00:00:00Z"}},
		{"hourly", "@hourly", "", "2026-05-01T00:00:00Z", []string{"2026-05-01T01:00:00Z", "2026-05-01T02:00:00Z"}},
		{"descriptor case", "@DAILY", "", "2026-05-01T00:00:00Z", []string{"2026-05-02T00:00:00Z"}},
		{"every", "@every 1h30m", "", "2026-05-01T00:10:00Z",
			[]string{"2026-05-01T01:30:00Z", "2026-05-01T03:00:00Z"}},
		{"every from", "@every 1h30m from 2030-01-01T00:00:00Z", "", "2026-05-01T00:00:00Z",
			[]string{"2030-01-01T00:00:00Z", "2030-01-01T01:30:00Z"}},
		{"every from offset", "@every 24h from 2026-05-01T09:00:00+02:00", "Asia/Tokyo", "2026-05-01T09:00:00Z",
			[]string{"2026-05-02T07:00:00Z", "2026-05-03T07:00:00Z"}},
		{"zone", "30 9 * * *", "Asia/Tokyo", "2026-05-01T00:00:00Z", // +09:00
			[]string{"2026-05-01T00:30:00Z", "2026-05-02T00:30:00Z"}},
		{"zone with half hour", "0 9 * * *", "Asia/Kolkata", "2026-05-01T00:00:00Z", // +05:30
			[]string{"2026-05-01T03:30:00Z", "2026-05-02T03:30:00Z"}},
		{"zone UTC by name", "0 9 * * *", "UTC", "2026-05-01T00:00:00Z",
			[]string{"2026-05-01T09:00:00Z"}},
		{"zone in descriptor", "@daily", "Europe/Berlin", "2026-05-01T00:00:00Z", // +02:00
			[]string{"2026-05-01T22:00:00Z", "2026-05-02T22:00:00Z"}},
		{"extra spaces", "  0\t9  * *   * ", "", "2026-05-01T00:00:00Z",
			[]string{"2026-05-01T09:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkNext(t, mustParse(t, tt.spec, tt.tz), utc(t, tt.after), tt.want...)
		})
	}
}

func TestNextFromNonUTCAndFractionalTimes(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "0 * * * *", "")
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	// 2026-05-01 09:59:59.999 in Tokyo is 00:59:59.999 UTC.
	after := time.Date(2026, 5, 1, 9, 59, 59, 999_999_999, tokyo)
	checkNext(t, s, after, "2026-05-01T01:00:00Z")
	// A fire time itself is not returned again: strictly after.
	checkNext(t, s, utc(t, "2026-05-01T01:00:00Z"), "2026-05-01T02:00:00Z")
	checkNext(t, s, utc(t, "2026-05-01T00:59:59.5Z"), "2026-05-01T01:00:00Z")
	// Far from today, in both directions.
	checkNext(t, s, time.Time{}, "0001-01-01T01:00:00Z")
	checkNext(t, s, utc(t, "9999-12-31T23:00:00Z"), "10000-01-01T00:00:00Z")
}

func TestStringRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct{ spec, tz, want string }{
		{"30 9 * * MON-FRI", "Europe/Berlin", "30 9 * * MON-FRI"},
		{"  30  9 * *\tmon-fri ", "", "30 9 * * mon-fri"},
		{"0 30 9 * * *", "", "0 30 9 * * *"},
		{"*/10 * * * * *", "", "*/10 * * * * *"},
		{"@yearly", "", "@yearly"},
		{"@annually", "", "@yearly"},
		{"@Monthly", "", "@monthly"},
		{"@weekly", "", "@weekly"},
		{"@midnight", "", "@daily"},
		{"@hourly", "America/New_York", "@hourly"},
		{"@every 90m", "", "@every 1h30m"},
		{"@every 1h0m0s", "", "@every 1h"},
		{"@every 1.5s", "", "@every 1.5s"},
		{"@every 61.25s", "", "@every 1m1.25s"},
		{"@every 24h FROM 2030-01-01T01:00:00+01:00", "", "@every 24h from 2030-01-01T00:00:00Z"},
		{"@every 1h from 2030-01-01T00:00:00.5Z", "", "@every 1h from 2030-01-01T00:00:00.5Z"},
	}
	base := utc(t, "2026-03-01T00:00:00Z")
	for _, tt := range tests {
		s := mustParse(t, tt.spec, tt.tz)
		if got := s.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.spec, got, tt.want)
		}
		again := mustParse(t, s.String(), tt.tz)
		if again.String() != s.String() {
			t.Errorf("round trip of %q: %q, then %q", tt.spec, s.String(), again.String())
		}
		if a, b := formatTimes(NextN(s, base, 20)), formatTimes(NextN(again, base, 20)); !slices.Equal(a, b) {
			t.Errorf("round trip of %q changed fire times:\n%v\n%v", tt.spec, a, b)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec, tz string
		want     string // the whole message
	}{
		{"61 * * * *", "", `schedule: "61 * * * *": minute field: value 61 out of range 0-59`},
		{"0 24 * * *", "", `schedule: "0 24 * * *": hour field: value 24 out of range 0-23`},
		{"0 0 0 * *", "", `schedule: "0 0 0 * *": day-of-month field: value 0 out of range 1-31`},
		{"0 0 32 * *", "", `schedule: "0 0 32 * *": day-of-month field: value 32 out of range 1-31`},
		{"0 0 * 13 *", "", `schedule: "0 0 * 13 *": month field: value 13 out of range 1-12`},
		{"0 0 * 0 *", "", `schedule: "0 0 * 0 *": month field: value 0 out of range 1-12`},
		{"0 0 * * 8", "", `schedule: "0 0 * * 8": day-of-week field: value 8 out of range 0-7`},
		{"60 0 0 * * *", "", `schedule: "60 0 0 * * *": second field: value 60 out of range 0-59`},
		{"0 0-61 * * *", "", `schedule: "0 0-61 * * *": hour field: value 61 out of range 0-23`},
		{"99999999999999999999 * * * *", "", `schedule: "99999999999999999999 * * * *": minute field: value 99999999999999999999 out of range 0-59`},
		{"x * * * *", "", `schedule: "x * * * *": minute field: invalid value "x"`},
		{"-1 * * * *", "", `schedule: "-1 * * * *": minute field: missing value in "-1"`},
		{"+5 * * * *", "", `schedule: "+5 * * * *": minute field: invalid value "+5"`},
		{"0 0 * * MONDAY", "", `schedule: "0 0 * * MONDAY": day-of-week field: invalid value "MONDAY"`},
		{"0 0 * MON * ", "", `schedule: "0 0 * MON * ": month field: invalid value "MON"`},
		{"0 0 JAN * *", "", `schedule: "0 0 JAN * *": day-of-month field: invalid value "JAN"`},
		{"1-2-3 * * * *", "", `schedule: "1-2-3 * * * *": minute field: invalid range "1-2-3": more than one "-"`},
		{"*/5/5 * * * *", "", `schedule: "*/5/5 * * * *": minute field: invalid step in "*/5/5": more than one "/"`},
		{"*/0 * * * *", "", `schedule: "*/0 * * * *": minute field: step 0 in "*/0" must be at least 1`},
		{"*/x * * * *", "", `schedule: "*/x * * * *": minute field: invalid step "x" in "*/x"`},
		{"*/60 * * * *", "", `schedule: "*/60 * * * *": minute field: step 60 in "*/60" must be smaller than the 60 values it steps over`},
		{"0 0 * * 1-5/5", "", `schedule: "0 0 * * 1-5/5": day-of-week field: step 5 in "1-5/5" must be smaller than the 5 values it steps over`},
		{"*-5 * * * *", "", `schedule: "*-5 * * * *": minute field: invalid value "*"`},
		{"1,,2 * * * *", "", `schedule: "1,,2 * * * *": minute field: empty item in list "1,,2"`},
		{", * * * *", "", `schedule: ", * * * *": minute field: empty item in list ","`},
		{"? * * * *", "", `schedule: "? * * * *": minute field: "?" is allowed only in the day-of-month and day-of-week fields`},
		{"0 0 ?/2 * *", "", `schedule: "0 0 ?/2 * *": day-of-month field: "?" cannot take a step: "?/2"`},
		{"0 0 L * *", "", `schedule: "0 0 L * *": day-of-month field: invalid value "L"`},
		{"0 0 * * FRI#3", "", `schedule: "0 0 * * FRI#3": day-of-week field: invalid value "FRI#3"`},
		{"H * * * *", "", `schedule: "H * * * *": minute field: invalid value "H"`},
		{"0 0 30 2 *", "", `schedule: "0 0 30 2 *": day-of-month field: day 30 never occurs in month 2`},
		{"0 0 30 2 */2", "", `schedule: "0 0 30 2 */2": day-of-month field: day 30 never occurs in month 2`},
		{"0 0 31 4,6,9,11 *", "", `schedule: "0 0 31 4,6,9,11 *": day-of-month field: day 31 never occurs in month 4,6,9,11`},
		{"* * * *", "", `schedule: "* * * *": expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with a leading second), found 4`},
		{"* * * * * * *", "", `schedule: "* * * * * * *": expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with a leading second), found 7`},
		{"", "", `schedule: empty spec`},
		{" \t ", "", `schedule: empty spec`},
		{"@fortnightly", "", `schedule: "@fortnightly": unknown descriptor "@fortnightly" (want @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every)`},
		{"@daily 5", "", `schedule: "@daily 5": unexpected "5" after @daily`},
		{"@every", "", `schedule: "@every": @every: missing duration`},
		{"@every soon", "", `schedule: "@every soon": @every: invalid duration "soon"`},
		{"@every 500ms", "", `schedule: "@every 500ms": interval 500ms below the minimum of 1s`},
		{"@every 0s", "", `schedule: "@every 0s": interval 0s below the minimum of 1s`},
		{"@every -1h", "", `schedule: "@every -1h": interval -1h0m0s below the minimum of 1s`},
		{"@every 1h from tomorrow", "", `schedule: "@every 1h from tomorrow": @every: invalid anchor "tomorrow": want an RFC 3339 time such as 2030-01-01T00:00:00Z`},
		{"@every 1h since 2030-01-01T00:00:00Z", "", `schedule: "@every 1h since 2030-01-01T00:00:00Z": @every: unexpected "since 2030-01-01T00:00:00Z" after the duration (want "from <RFC 3339 time>")`},
		{"TZ=Europe/Berlin 0 9 * * *", "", `schedule: "TZ=Europe/Berlin 0 9 * * *": time zone prefix not allowed in the spec; pass the zone as Parse's tz argument`},
		{"CRON_TZ=UTC 0 9 * * *", "", `schedule: "CRON_TZ=UTC 0 9 * * *": time zone prefix not allowed in the spec; pass the zone as Parse's tz argument`},
		{"cron_tz=UTC @daily", "", `schedule: "cron_tz=UTC @daily": time zone prefix not allowed in the spec; pass the zone as Parse's tz argument`},
		{"0 9 * * *", "Mars/Olympus_Mons", `schedule: unknown time zone "Mars/Olympus_Mons"`},
		{"0 9 * * *", "europe/nowhere", `schedule: unknown time zone "europe/nowhere"`},
		{"0 9 * * *", "../etc/passwd", `schedule: unknown time zone "../etc/passwd"`},
		{"0 9 * * *", "Local", `schedule: time zone "Local" is not an IANA zone name (such as "Europe/Berlin")`},
		{"@every 1h", "Nowhere/Zone", `schedule: unknown time zone "Nowhere/Zone"`},
		{strings.Repeat("1,", 600) + "1 * * * *", "", `schedule: spec too long: 1209 bytes, at most 1024`},
	}
	for _, tt := range tests {
		s, err := Parse(tt.spec, tt.tz)
		if err == nil {
			t.Errorf("Parse(%q, %q) = %q, want error %q", tt.spec, tt.tz, s, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q, %q) error:\n got %s\nwant %s", tt.spec, tt.tz, err, tt.want)
		}
	}
}

func TestFieldErrorUnwraps(t *testing.T) {
	t.Parallel()
	_, err := Parse("0 0 * * 9", "")
	var fe *fieldError
	if !errors.As(err, &fe) || fe.field != "day-of-week" {
		t.Fatalf("error %v does not carry the day-of-week field", err)
	}
}

func TestNextN(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "0 0 * * *", "")
	if got := NextN(s, utc(t, "2026-01-01T00:00:00Z"), 0); got != nil {
		t.Errorf("NextN(0) = %v, want nil", got)
	}
	if got := NextN(s, utc(t, "2026-01-01T00:00:00Z"), -3); got != nil {
		t.Errorf("NextN(-3) = %v, want nil", got)
	}
	checkNext(t, s, utc(t, "2026-12-30T12:00:00Z"), "2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z")
	// A schedule that ends stops NextN early.
	end, err := EveryFrom(time.Second, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	maxTime := time.Unix(1<<62, 0)
	if got := NextN(end, maxTime, 3); len(got) != 0 {
		t.Errorf("NextN at the end of time = %v, want none", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := mustParse(t, "*/5 * * * *", "Europe/Berlin")
	base := utc(t, "2026-10-24T22:00:00Z")
	want := formatTimes(NextN(s, base, 50))
	done := make(chan []string)
	for range 8 {
		go func() {
			_, _ = Parse("0 9 * * *", "Europe/Berlin") // shares the zone cache
			done <- formatTimes(NextN(s, base, 50))
		}()
	}
	for range 8 {
		if got := <-done; !slices.Equal(got, want) {
			t.Errorf("concurrent NextN differs: %v", got)
		}
	}
}
