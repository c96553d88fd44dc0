package schedule_test

import (
	"fmt"
	"time"

	"github.com/kilnjobs/kiln/schedule"
)

func ExampleParse() {
	s, err := schedule.Parse("30 9 * * MON-FRI", "Europe/Berlin")
	if err != nil {
		panic(err)
	}
	fmt.Println(s, "-", schedule.Describe(s.String()))
	// Friday 27 March 2026, noon UTC. Berlin moves to summer time (UTC+2)
	// on Sunday 29 March, so 09:30 is 08:30 UTC before and 07:30 UTC after.
	after := time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC)
	for _, t := range schedule.NextN(s, after, 3) {
		fmt.Println(t.Format(time.RFC3339))
	}

	_, err = schedule.Parse("61 * * * *", "")
	fmt.Println(err)
	// Output:
	// 30 9 * * MON-FRI - at 09:30 on Monday through Friday
	// 2026-03-30T07:30:00Z
	// 2026-03-31T07:30:00Z
	// 2026-04-01T07:30:00Z
	// schedule: "61 * * * *": minute field: value 61 out of range 0-59
}

func ExampleParse_daylightSaving() {
	// 8 March 2026 in New York: clocks jump from 02:00 to 03:00, so 02:30
	// does not exist and the job runs at the jump, 03:00 EDT (07:00 UTC).
	s, err := schedule.Parse("30 2 * * *", "America/New_York")
	if err != nil {
		panic(err)
	}
	for _, t := range schedule.NextN(s, time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC), 2) {
		fmt.Println(t.Format(time.RFC3339))
	}
	// Output:
	// 2026-03-08T07:00:00Z
	// 2026-03-09T06:30:00Z
}

func ExampleDaily() {
	spec := schedule.Daily(9, 30)
	fmt.Println(spec)
	s, err := schedule.Parse(spec, "Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Next(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)).Format(time.RFC3339))
	fmt.Println(schedule.Weekly(time.Friday, 17, 0))
	fmt.Println(schedule.Interval(1, 2, 30))
	// Output:
	// 30 9 * * *
	// 2026-05-01T00:30:00Z
	// 0 17 * * 5
	// @every 26h30m
}

// IntervalFrom counts an interval from a time of your choosing, such as
// when a recurring job is first defined, rather than from the Unix epoch.
func ExampleIntervalFrom() {
	defined := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	spec := schedule.IntervalFrom(1, 2, 30, defined)
	fmt.Println(spec)
	s, err := schedule.Parse(spec, "")
	if err != nil {
		panic(err)
	}
	for _, t := range schedule.NextN(s, defined, 2) {
		fmt.Println(t.Format(time.RFC3339))
	}
	// Counted from the epoch, the first run comes 15 hours after definition.
	epoch, _ := schedule.Parse(schedule.Interval(1, 2, 30), "")
	fmt.Println(epoch.Next(defined).Format(time.RFC3339))
	// Output:
	// @every 26h30m from 2026-05-01T10:00:00Z
	// 2026-05-02T12:30:00Z
	// 2026-05-03T15:00:00Z
	// 2026-05-02T01:00:00Z
}

func ExampleEveryFrom() {
	anchor := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := schedule.EveryFrom(90*time.Minute, anchor)
	if err != nil {
		panic(err)
	}
	fmt.Println(s)
	for _, t := range schedule.NextN(s, anchor.Add(2*time.Hour), 3) {
		fmt.Println(t.Format(time.RFC3339))
	}
	// The spec parses back to the same schedule.
	back, err := schedule.Parse(s.String(), "")
	if err != nil {
		panic(err)
	}
	fmt.Println(back.Next(anchor).Format(time.RFC3339))
	// Output:
	// @every 1h30m from 2030-01-01T00:00:00Z
	// 2030-01-01T03:00:00Z
	// 2030-01-01T04:30:00Z
	// 2030-01-01T06:00:00Z
	// 2030-01-01T01:30:00Z
}

func ExampleDescribe() {
	for _, spec := range []string{"*/5 * * * *", "*/59 * * * *", "0 0 1 * *", "@every 36h"} {
		fmt.Println(schedule.Describe(spec))
	}
	// Output:
	// every 5 minutes
	// at minutes 0 and 59 of every hour
	// at 00:00 on day 1 of the month
	// every 36 hours, counted from the Unix epoch 1970-01-01T00:00:00Z
}
