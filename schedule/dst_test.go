package schedule

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cron "github.com/netresearch/go-cron"
)

// The 2026 transitions used below (checked against the zone database):
//
//	America/New_York    spring 2026-03-08 07:00Z  01:59:59 EST  -> 03:00 EDT  (gap 02:00-02:59)
//	                    fall   2026-11-01 06:00Z  01:59:59 EDT  -> 01:00 EST  (01:00-01:59 twice)
//	Europe/Berlin       spring 2026-03-29 01:00Z  01:59:59 CET  -> 03:00 CEST (gap 02:00-02:59)
//	                    fall   2026-10-25 01:00Z  02:59:59 CEST -> 02:00 CET  (02:00-02:59 twice)
//	Australia/Sydney    fall   2026-04-04 16:00Z  02:59:59 AEDT -> 02:00 AEST (02:00-02:59 twice, 5 April)
//	                    spring 2026-10-03 16:00Z  01:59:59 AEST -> 03:00 AEDT (gap 02:00-02:59, 4 October)
//	Australia/Lord_Howe fall   2026-04-04 15:00Z  01:59:59 +11  -> 01:30 +1030 (01:30-01:59 twice, 5 April)
//	                    spring 2026-10-03 15:30Z  01:59:59 +1030 -> 02:30 +11 (gap 02:00-02:29, 4 October)
//	America/Santiago    fall   2026-04-05 03:00Z  23:59:59 -03  -> 23:00 -04 (23:00-23:59 on 4 April twice)
//	                    spring 2026-09-06 04:00Z  23:59:59 -04  -> 01:00 -03 (gap 00:00-00:59 on 6 September)

func TestDSTSpringForward(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, spec, tz, after string
		want                  []string
	}{
		// New York: 02:00-02:59 does not exist on 8 March 2026.
		{"NY in gap", "30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"NY gap start", "0 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z"}},
		{"NY gap with seconds", "30 59 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:59:30Z"}},
		{"NY just before gap", "59 1 * * *", "America/New_York", "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T06:59:00Z", "2026-03-09T05:59:00Z"}},
		{"NY just after gap", "0 3 * * *", "America/New_York", "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T07:00:00Z"}},
		{"NY gap from one second before", "30 2 * * *", "America/New_York", "2026-03-08T06:59:59Z",
			[]string{"2026-03-08T07:00:00Z"}},
		{"NY gap from the transition", "30 2 * * *", "America/New_York", "2026-03-08T07:00:00Z",
			[]string{"2026-03-09T06:30:00Z"}},
		// Several gap times and 03:00 itself collapse into one fire.
		{"NY interval across gap", "*/30 * * * *", "America/New_York", "2026-03-08T05:45:00Z",
			[]string{"2026-03-08T06:00:00Z", "2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"}},
		{"NY hourly across gap", "0 * * * *", "America/New_York", "2026-03-08T05:30:00Z",
			[]string{"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}},
		{"NY half past across gap", "30 * * * *", "America/New_York", "2026-03-08T05:45:00Z",
			[]string{"2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"}},
		{"NY only the gap hour", "*/15 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T06:15:00Z"}},

		// Berlin: 02:00-02:59 does not exist on 29 March 2026.
		{"Berlin in gap", "30 2 * * *", "Europe/Berlin", "2026-03-28T00:00:00Z",
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"Berlin just before gap", "15 1 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T00:15:00Z", "2026-03-29T23:15:00Z"}},
		{"Berlin just after gap", "0 3 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"}},
		{"Berlin weekly in gap", "30 2 * * SUN", "Europe/Berlin", "2026-03-25T00:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-04-05T00:30:00Z"}},

		// Sydney: 02:00-02:59 does not exist on 4 October 2026.
		{"Sydney in gap", "30 2 * * *", "Australia/Sydney", "2026-10-03T00:00:00Z",
			[]string{"2026-10-03T16:00:00Z", "2026-10-04T15:30:00Z"}},
		{"Sydney just before gap", "59 1 * * *", "Australia/Sydney", "2026-10-03T00:00:00Z",
			[]string{"2026-10-03T15:59:00Z", "2026-10-04T14:59:00Z"}},
		{"Sydney just after gap", "0 3 * * *", "Australia/Sydney", "2026-10-03T00:00:00Z",
			[]string{"2026-10-03T16:00:00Z", "2026-10-04T16:00:00Z"}},
		{"Sydney interval across gap", "*/15 * * * *", "Australia/Sydney", "2026-10-03T15:40:00Z",
			[]string{"2026-10-03T15:45:00Z", "2026-10-03T16:00:00Z", "2026-10-03T16:15:00Z"}},

		// Lord Howe: 02:00-02:29 does not exist on 4 October 2026 (a
		// 30-minute shift); 02:30 does.
		{"Lord Howe in gap", "15 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z",
			[]string{"2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"}},
		{"Lord Howe gap start", "0 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z",
			[]string{"2026-10-03T15:30:00Z", "2026-10-04T15:00:00Z"}},
		{"Lord Howe first time after gap", "30 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z",
			[]string{"2026-10-03T15:30:00Z", "2026-10-04T15:30:00Z"}},
		{"Lord Howe after gap", "45 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z",
			[]string{"2026-10-03T15:45:00Z", "2026-10-04T15:45:00Z"}},
		{"Lord Howe just before gap", "50 1 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z",
			[]string{"2026-10-03T15:20:00Z", "2026-10-04T14:50:00Z"}},
		{"Lord Howe interval across gap", "*/10 * * * *", "Australia/Lord_Howe", "2026-10-03T15:15:00Z",
			[]string{"2026-10-03T15:20:00Z", "2026-10-03T15:30:00Z", "2026-10-03T15:40:00Z"}},

		// Santiago: midnight does not exist on 6 September 2026.
		{"Santiago midnight in gap", "@daily", "America/Santiago", "2026-09-05T00:00:00Z",
			[]string{"2026-09-05T04:00:00Z", "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"}},
		{"Santiago date in gap", "30 0 6 9 *", "America/Santiago", "2026-01-01T00:00:00Z",
			[]string{"2026-09-06T04:00:00Z", "2027-09-06T03:30:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkNext(t, mustParse(t, tt.spec, tt.tz), utc(t, tt.after), tt.want...)
		})
	}
}

func TestDSTFallBack(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, spec, tz, after string
		want                  []string
	}{
		// New York: 01:00-01:59 happens twice on 1 November 2026, first
		// at -04:00 (05:00Z-05:59Z), then at -05:00 (06:00Z-06:59Z).
		{"NY fixed time in repeat", "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"NY fixed time from first instance", "30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z",
			[]string{"2026-11-02T06:30:00Z"}},
		{"NY fixed time from inside second pass", "30 1 * * *", "America/New_York", "2026-11-01T06:15:00Z",
			[]string{"2026-11-02T06:30:00Z"}},
		{"NY fixed list in repeat", "0,30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:00:00Z"}},
		{"NY fixed with seconds in repeat", "15 30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:30:15Z", "2026-11-02T06:30:15Z"}},
		{"NY just before repeat", "59 0 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T04:59:00Z", "2026-11-02T05:59:00Z"}},
		{"NY just after repeat", "0 2 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T07:00:00Z", "2026-11-02T07:00:00Z"}},
		// Interval schedules fire at both instances of the repeated hour.
		{"NY hourly through repeat", "0 * * * *", "America/New_York", "2026-11-01T03:30:00Z",
			[]string{"2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"}},
		{"NY hourly descriptor", "@hourly", "America/New_York", "2026-11-01T04:30:00Z",
			[]string{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"}},
		{"NY every 20 minutes through repeat", "*/20 * * * *", "America/New_York", "2026-11-01T05:30:00Z",
			[]string{"2026-11-01T05:40:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:20:00Z", "2026-11-01T06:40:00Z", "2026-11-01T07:00:00Z"}},
		{"NY hour range through repeat", "0 1-2 * * *", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z", "2026-11-02T06:00:00Z"}},
		{"NY minutely at the turn", "* * * * *", "America/New_York", "2026-11-01T05:58:00Z",
			[]string{"2026-11-01T05:59:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:01:00Z"}},
		{"NY interval from inside second pass", "30 * * * *", "America/New_York", "2026-11-01T05:45:00Z",
			[]string{"2026-11-01T06:30:00Z", "2026-11-01T07:30:00Z"}},
		{"NY daily", "@daily", "America/New_York", "2026-10-31T12:00:00Z",
			[]string{"2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"}},

		// Berlin: 02:00-02:59 happens twice on 25 October 2026, at
		// +02:00 (00:00Z-00:59Z), then at +01:00 (01:00Z-01:59Z).
		{"Berlin fixed time in repeat", "30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"Berlin hourly through repeat", "0 * * * *", "Europe/Berlin", "2026-10-24T22:30:00Z",
			[]string{"2026-10-24T23:00:00Z", "2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"}},
		{"Berlin just before repeat", "59 1 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
			[]string{"2026-10-24T23:59:00Z", "2026-10-26T00:59:00Z"}},
		{"Berlin just after repeat", "0 3 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
			[]string{"2026-10-25T02:00:00Z", "2026-10-26T02:00:00Z"}},

		// Sydney: 02:00-02:59 happens twice on 5 April 2026, at +11:00
		// (15:00Z-15:59Z on 4 April), then at +10:00 (16:00Z-16:59Z).
		{"Sydney fixed time in repeat", "30 2 * * *", "Australia/Sydney", "2026-04-04T00:00:00Z",
			[]string{"2026-04-04T15:30:00Z", "2026-04-05T16:30:00Z"}},
		{"Sydney hourly through repeat", "0 * * * *", "Australia/Sydney", "2026-04-04T14:30:00Z",
			[]string{"2026-04-04T15:00:00Z", "2026-04-04T16:00:00Z", "2026-04-04T17:00:00Z"}},
		{"Sydney just before repeat", "59 1 * * *", "Australia/Sydney", "2026-04-04T00:00:00Z",
			[]string{"2026-04-04T14:59:00Z", "2026-04-05T15:59:00Z"}},
		{"Sydney just after repeat", "0 3 * * *", "Australia/Sydney", "2026-04-04T00:00:00Z",
			[]string{"2026-04-04T17:00:00Z", "2026-04-05T17:00:00Z"}},

		// Lord Howe: 01:30-01:59 happens twice on 5 April 2026, at +11:00
		// (14:30Z-14:59Z on 4 April), then at +10:30 (15:00Z-15:29Z).
		{"Lord Howe fixed time in repeat", "45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z",
			[]string{"2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"}},
		{"Lord Howe fixed time before repeat", "15 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z",
			[]string{"2026-04-04T14:15:00Z", "2026-04-05T14:45:00Z"}},
		{"Lord Howe fixed time after repeat", "0 2 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z",
			[]string{"2026-04-04T15:30:00Z", "2026-04-05T15:30:00Z"}},
		{"Lord Howe interval through repeat", "*/15 * * * *", "Australia/Lord_Howe", "2026-04-04T14:20:00Z",
			[]string{"2026-04-04T14:30:00Z", "2026-04-04T14:45:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:15:00Z", "2026-04-04T15:30:00Z"}},
		// 01:00 happens once; the local hour 01:00-01:59 lasts 90 minutes.
		{"Lord Howe hourly through repeat", "0 * * * *", "Australia/Lord_Howe", "2026-04-04T13:50:00Z",
			[]string{"2026-04-04T14:00:00Z", "2026-04-04T15:30:00Z", "2026-04-04T16:30:00Z"}},

		// Santiago: 23:00-23:59 on 4 April 2026 happens twice, the second
		// time after midnight -03:00 turned back into 23:00 -04:00.
		{"Santiago fixed time in repeat", "30 23 * * *", "America/Santiago", "2026-04-04T12:00:00Z",
			[]string{"2026-04-05T02:30:00Z", "2026-04-06T03:30:00Z"}},
		{"Santiago midnight after repeat", "@daily", "America/Santiago", "2026-04-04T12:00:00Z",
			[]string{"2026-04-05T04:00:00Z", "2026-04-06T04:00:00Z"}},
		{"Santiago interval through repeat", "*/30 23 * * *", "America/Santiago", "2026-04-04T12:00:00Z",
			[]string{"2026-04-05T02:00:00Z", "2026-04-05T02:30:00Z", "2026-04-05T03:00:00Z", "2026-04-05T03:30:00Z", "2026-04-06T03:00:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkNext(t, mustParse(t, tt.spec, tt.tz), utc(t, tt.after), tt.want...)
		})
	}
}

func TestIntervalsIgnoreDST(t *testing.T) {
	t.Parallel()
	// A zone given to Parse does not change an interval: its fire times
	// stay 24 real hours apart across the New York spring-forward day,
	// although the wall clock then reads 13:00 instead of 12:00.
	s := mustParse(t, "@every 24h from 2026-03-07T17:00:00Z", "America/New_York")
	checkNext(t, s, utc(t, "2026-03-07T12:00:00Z"),
		"2026-03-07T17:00:00Z", "2026-03-08T17:00:00Z", "2026-03-09T17:00:00Z")
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	got := NextN(s, utc(t, "2026-03-07T12:00:00Z"), 2)
	if h0, h1 := got[0].In(ny).Hour(), got[1].In(ny).Hour(); h0 != 12 || h1 != 13 {
		t.Errorf("wall-clock hours %d, %d; want 12, 13", h0, h1)
	}
	every, err := Every(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	checkNext(t, every, utc(t, "2026-11-01T04:30:00Z"),
		"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z")
}

// TestDSTMatchesReference compares Next, around every 2026 transition of
// several zones, with a brute-force model of the rules in the package
// documentation: walk every minute (or second) of real time and decide for
// each instant whether it fires.
func TestDSTMatchesReference(t *testing.T) {
	t.Parallel()
	zones := []string{
		"America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe",
		"America/Santiago", "America/Havana", "Europe/London", "Asia/Kolkata", "UTC",
	}
	specs := []string{
		"* * * * *", "*/15 * * * *", "*/7 * * * *", "0 * * * *", "30 * * * *", "45 * * * *",
		"0 0 * * *", "30 0 * * *", "0 1 * * *", "30 1 * * *", "45 1 * * *", "59 1 * * *",
		"0 2 * * *", "15 2 * * *", "30 2 * * *", "59 2 * * *", "0 3 * * *", "30 23 * * *",
		"0,30 1,2 * * *", "0 1-3 * * *", "*/20 1 * * *", "5 0-3/2 * * *", "10,40 23,0,1,2 * * *",
		"0 2 * * SUN", "30 2 1-10 * *", "0 0 13 * SAT", "@hourly", "@daily",
	}
	secondSpecs := []string{"30 30 2 * * *", "*/20 * * * * *", "59 59 1 * * *", "0 0,30 1,2 * * *", "15 * 1 * * *"}

	for _, zone := range zones {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		transitions := transitionsIn(loc, 2026)
		if zone == "UTC" || zone == "Asia/Kolkata" {
			transitions = []time.Time{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)} // none: any window
		}
		for _, tr := range transitions {
			for _, spec := range specs {
				t.Run(fmt.Sprintf("%s/%s/%s", zone, tr.Format("01-02"), spec), func(t *testing.T) {
					t.Parallel()
					compareWithReference(t, spec, loc, tr.Add(-30*time.Hour), tr.Add(30*time.Hour), time.Minute)
				})
			}
			for _, spec := range secondSpecs {
				t.Run(fmt.Sprintf("%s/%s/%s", zone, tr.Format("01-02"), spec), func(t *testing.T) {
					t.Parallel()
					compareWithReference(t, spec, loc, tr.Add(-3*time.Hour), tr.Add(3*time.Hour), time.Second)
				})
			}
		}
	}
}

// transitionsIn returns the instants in year at which loc changes offset.
func transitionsIn(loc *time.Location, year int) []time.Time {
	var out []time.Time
	t := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	end := t.AddDate(1, 0, 0)
	for {
		_, next := t.In(loc).ZoneBounds()
		if next.IsZero() || !next.Before(end) {
			return out
		}
		out = append(out, next)
		t = next
	}
}

func compareWithReference(t *testing.T, spec string, loc *time.Location, from, to time.Time, step time.Duration) {
	t.Helper()
	want := referenceFires(t, spec, loc, from, to, step)
	s := mustParse(t, spec, loc.String())
	var got []time.Time
	for next := s.Next(from.Add(-time.Nanosecond)); next.Before(to); next = s.Next(next) {
		got = append(got, next)
	}
	if !slices.Equal(formatTimes(got), formatTimes(want)) {
		t.Errorf("%q in %s between %s and %s:\n got %v\nwant %v", spec, loc, from.Format(time.RFC3339), to.Format(time.RFC3339),
			formatTimes(got), formatTimes(want))
	}
}

// referenceFires is the brute-force model. Wall-clock matching is done by
// go-cron in UTC (where it has no DST to handle), so only the DST rules are
// modelled here: an instant fires if its wall-clock time matches and either
// the schedule is an interval one or that wall-clock time was not shown
// before; an instant where the clock jumps forward also fires if any skipped
// wall-clock time matches. Instants are stepped by step, which must divide
// every transition time (minutes do for these zones in 2026).
func referenceFires(t *testing.T, spec string, loc *time.Location, from, to time.Time, step time.Duration) []time.Time {
	t.Helper()
	lib, err := cron.MustNewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month |
		cron.Dow | cron.Descriptor | cron.DowOrDom).Parse("TZ=UTC " + spec)
	if err != nil {
		t.Fatalf("go-cron cannot parse %q: %v", spec, err)
	}
	// All matching wall-clock times in a generous window.
	matching := map[int64]bool{} // by Unix seconds of the wall-clock reading
	for w := lib.Next(from.Add(-48 * time.Hour)); w.Before(to.Add(48 * time.Hour)); w = lib.Next(w) {
		matching[w.Unix()] = true
	}
	fields := strings.Fields(spec)
	if d, ok := descriptors[spec]; ok {
		fields = strings.Fields(d[1])
	}
	if len(fields) == 5 {
		fields = append([]string{"0"}, fields...)
	}
	interval := strings.ContainsAny(strings.Join(fields[:3], " "), "*-/")

	wallAt := func(i time.Time) time.Time {
		_, off := i.In(loc).Zone()
		return i.UTC().Add(time.Duration(off) * time.Second)
	}
	shownBefore := func(w, i time.Time) bool {
		for k := 1; k <= 8; k++ { // offsets seen in the last four hours
			_, off := i.Add(-time.Duration(k) * 30 * time.Minute).In(loc).Zone()
			j := w.Add(-time.Duration(off) * time.Second)
			if j.Before(i) && wallAt(j).Equal(w) {
				return true
			}
		}
		return false
	}
	var fires []time.Time
	for i := from; i.Before(to); i = i.Add(step) {
		fire := false
		_, off := i.In(loc).Zone()
		_, prevOff := i.Add(-time.Nanosecond).In(loc).Zone()
		if prevOff < off { // the clock jumps forward at i
			skippedFrom := i.UTC().Add(time.Duration(prevOff) * time.Second)
			skippedTo := i.UTC().Add(time.Duration(off) * time.Second)
			for w := skippedFrom; w.Before(skippedTo); w = w.Add(step) {
				fire = fire || matching[w.Unix()]
			}
		}
		if w := wallAt(i); matching[w.Unix()] && (interval || !shownBefore(w, i)) {
			fire = true
		}
		if fire {
			fires = append(fires, i.UTC())
		}
	}
	return fires
}

// TestNextOnLastDayOfLeapYears covers a quirk of time.Time.ZoneBounds: for
// instants past the zone database's table (computed from the zone's rule),
// Go reports a period end at or before the instant itself during the last
// day of a leap year (31 December 2040 here). Next must neither loop nor
// give up there.
func TestNextOnLastDayOfLeapYears(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec         string
		hour, minute int // hour -1: any
	}{
		{"0 * * * *", -1, 0},
		{"30 12 * * *", 12, 30},
	}
	for _, zone := range []string{"Europe/Berlin", "America/New_York", "Australia/Sydney"} {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			from := time.Date(2040, 12, 30, 0, 0, 0, 0, time.UTC)
			fires := NextN(mustParse(t, tt.spec, zone), from, 80)
			if len(fires) != 80 {
				t.Fatalf("%q in %s: %d fire times after %v, want 80", tt.spec, zone, len(fires), from)
			}
			for i, f := range fires {
				local := f.In(loc)
				if local.Minute() != tt.minute || (tt.hour >= 0 && local.Hour() != tt.hour) {
					t.Errorf("%q in %s: fire time %v (%v local) does not match", tt.spec, zone, f, local)
				}
				if i > 0 && tt.hour < 0 && f.Sub(fires[i-1]) != time.Hour {
					t.Errorf("%q in %s: %v then %v, want an hour apart", tt.spec, zone, fires[i-1], f)
				}
			}
		}
	}
}

func TestRareSchedules(t *testing.T) {
	t.Parallel()
	// 29 February on a Sunday (day-of-week */7 is Sunday alone, and a day
	// field starting with "*" means both fields must match): after 2088
	// the next one is 2128, since 2100 is no leap year.
	checkNext(t, mustParse(t, "0 0 29 2 */7", "Europe/Berlin"), utc(t, "2089-01-01T00:00:00Z"),
		"2128-02-28T23:00:00Z", "2156-02-28T23:00:00Z")
	checkNext(t, mustParse(t, "0 0 29 2 *", "America/New_York"), utc(t, "2097-01-01T00:00:00Z"),
		"2104-02-29T05:00:00Z", "2108-02-29T05:00:00Z")
}
