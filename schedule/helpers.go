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

// maxMinutes is the most whole minutes a time.Duration holds.
const maxMinutes = int64(1<<63-1) / int64(time.Minute)
