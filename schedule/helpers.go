package schedule

import (
	"fmt"
	"math/big"
	"time"
)

// The helpers below build spec strings for common schedules, as Hangfire's
// Cron class does (Cron.Minutely, Cron.Daily(hour, minute) and so on). They
// do not check their arguments: an out-of-range value (Daily(25, 0)) gives a
// spec that [Parse] rejects with an error naming the field. Hours are 0-23,
// minutes 0-59, days of the month 1-31; times are wall-clock times in the zone
// passed to Parse.

// Minutely returns the spec of a schedule that fires at the start of every
// minute, "* * * * *", as Hangfire's Cron.Minutely.
func Minutely() string { return "* * * * *" }

// Hourly returns the spec of a schedule that fires every hour at the given
// minute (0-59), "<minute> * * * *", as Hangfire's Cron.Hourly(minute).
func Hourly(minute int) string { return fmt.Sprintf("%d * * * *", minute) }

// Daily returns the spec of a schedule that fires every day at hour:minute,
// "<minute> <hour> * * *", as Hangfire's Cron.Daily(hour, minute).
func Daily(hour, minute int) string { return fmt.Sprintf("%d %d * * *", minute, hour) }

// Weekly returns the spec of a schedule that fires every week on day at
// hour:minute, "<minute> <hour> * * <day>" with Sunday as 0, as Hangfire's
// Cron.Weekly(dayOfWeek, hour, minute).
func Weekly(day time.Weekday, hour, minute int) string {
	return fmt.Sprintf("%d %d * * %d", minute, hour, int(day))
}

// Monthly returns the spec of a schedule that fires every month on the given
// day of the month (1-31) at hour:minute, "<minute> <hour> <day> * *", as
// Hangfire's Cron.Monthly(day, hour, minute). A month without that day (day
// 31 in April) is skipped.
func Monthly(day, hour, minute int) string {
	return fmt.Sprintf("%d %d %d * *", minute, hour, day)
}

// Yearly returns the spec of a schedule that fires every year on month/day
// at hour:minute, "<minute> <hour> <day> <month> *", as Hangfire's
// Cron.Yearly(month, day, hour, minute). For 29 February it fires in leap
// years only.
func Yearly(month time.Month, day, hour, minute int) string {
	return fmt.Sprintf("%d %d %d %d *", minute, hour, day, int(month))
}

// Interval returns the "@every" spec of a fixed interval of the given days,
// hours and minutes, as Cofoundry's interval schedules: Interval(1, 2, 30) is
// "@every 26h30m". A day is 24 hours: the interval is absolute and ignores
// daylight-saving time (see [Every]). The parts may exceed their usual range
// (Interval(0, 0, 90) is "@every 1h30m"). A total of zero or less, or one
// too long for a time.Duration (about 292 years), gives a spec that [Parse]
// rejects.
//
// Unlike Cofoundry, whose task runs again an interval after its last run,
// the interval is counted from the Unix epoch (1970-01-01T00:00:00Z), not
// from when a recurring job is defined: Interval(1, 2, 30) fires at
// 1970-01-01T00:00Z + k × 26h30m, so its first run may come at any time
// within 26h30m of the definition. That makes the fire times the same in
// every process and across restarts. An interval that divides an hour or a
// day (15 minutes, 6 hours) fires on the clock's marks (:00, :15, ... UTC),
// so it rarely matters; for "every 26h30m from now" use [IntervalFrom].
func Interval(days, hours, minutes int) string {
	// Sum in big integers so that absurd arguments give a spec Parse
	// rejects rather than a silently wrapped one.
	total := big.NewInt(int64(days))
	total.Mul(total, big.NewInt(24))
	total.Add(total, big.NewInt(int64(hours)))
	total.Mul(total, big.NewInt(60))
	total.Add(total, big.NewInt(int64(minutes)))
	if total.IsInt64() && total.Int64() <= int64(maxMinutes) && total.Int64() >= -int64(maxMinutes) {
		return "@every " + formatDuration(time.Duration(total.Int64())*time.Minute)
	}
	return "@every " + total.String() + "m" // out of time.Duration's range
}

// IntervalFrom returns the spec of [Interval](days, hours, minutes) counted
// from anchor instead of the Unix epoch: "@every 26h30m from
// 2030-01-01T09:00:00Z" fires at anchor, anchor + 26h30m, anchor + 53h and
// so on (see [EveryFrom]). The anchor is written in UTC, to the nanosecond.
//
// The anchor is part of the spec, so pass a fixed time: a constant, or the
// time the job was first defined. IntervalFrom(1, 2, 30, time.Now()) gives
// "every 26h30m from now" once, as a job defined at run time with
// Client.RecurringAddOrUpdate; in Config.Recurring, which is defined again at
// every start, it would give a new spec, and so a new first run, at each
// restart. An anchor outside years 1-9999 gives a spec that [Parse]
// rejects.
func IntervalFrom(days, hours, minutes int, anchor time.Time) string {
	return Interval(days, hours, minutes) + " from " + anchor.UTC().Format(time.RFC3339Nano)
}

// maxMinutes is the most whole minutes a time.Duration holds.
const maxMinutes = int64(1<<63-1) / int64(time.Minute)
