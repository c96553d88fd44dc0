package schedule

import "testing"

func TestDescribe(t *testing.T) {
	t.Parallel()
	tests := []struct{ spec, want string }{
		{"* * * * *", "every minute"},
		{"*/5 * * * *", "every 5 minutes"},
		{"0 * * * *", "every hour"},
		{"@hourly", "every hour"},
		{"30 * * * *", "at minute 30 of every hour"},
		{"0 */2 * * *", "every 2 hours"},
		{"15 */6 * * *", "every 6 hours at minute 15"},
		{"30 9 * * *", "at 09:30 every day"},
		{"30 9 * * MON-FRI", "at 09:30 on Monday through Friday"},
		{"30 9 * * 1-5", "at 09:30 on Monday through Friday"},
		{"0 0 * * 0", "at 00:00 on Sunday"},
		{"0 0 * * 7", "at 00:00 on Sunday"},
		{"0 18 * * MON,WED,FRI", "at 18:00 on Monday, Wednesday and Friday"},
		{"0 0 1 * *", "at 00:00 on day 1 of the month"},
		{"@monthly", "at 00:00 on day 1 of the month"},
		{"@daily", "at 00:00 every day"},
		{"@weekly", "at 00:00 on Sunday"},
		{"@yearly", "at 00:00 on day 1 of January"},
		{"0 0 1,15 * *", "at 00:00 on days 1 and 15 of the month"},
		{"0 0 1-7 * *", "at 00:00 on days 1 through 7 of the month"},
		{"0 12 25 12 *", "at 12:00 on day 25 of December"},
		{"0 0 * 1-3 *", "at 00:00 in January through March"},
		{"0 0 * JAN,JUL MON", "at 00:00 on Monday in January and July"},
		{"0 0 13 * FRI", "at 00:00 on day 13 of the month or on Friday"},
		{"0 0 13 6 FRI", "at 00:00 on day 13 of the month or on Friday in June"},
		{"0 9,12,17 * * *", "at 09:00, 12:00 and 17:00 every day"},
		{"0,30 9 * * *", "at 09:00 and 09:30 every day"},
		{"0 9-17 * * *", "every hour from 09:00 through 17:00"},
		{"30 9-17 * * MON-FRI", "every hour from 09:30 through 17:30 on Monday through Friday"},
		{"*/15 9-17 * * *", "every 15 minutes from 09:00 through 17:45"},
		{"* 22-2 * * *", "every minute from 22:00 through 02:59"},
		{"*/5 * * * SAT,SUN", "every 5 minutes on Saturday and Sunday"},
		{"* * * * * *", "every second"},
		{"*/10 * * * * *", "every 10 seconds"},
		// A step that does not divide its field's range restarts at 0:
		// "*/59" fires at :00 and :59, not every 59 minutes.
		{"*/59 * * * *", "at minutes 0 and 59 of every hour"},
		{"*/7 * * * *", "at minutes 0, 7, 14, 21, 28, 35, 42, 49 and 56 of every hour"},
		{"*/45 * * * * *", "at seconds 0 and 45 of every minute"},
		{"0 */5 * * *", "at 00:00, 05:00, 10:00, 15:00 and 20:00 every day"},
		{"30 */7 * * MON", "at 00:30, 07:30, 14:30 and 21:30 on Monday"},
		{"*/7 9-17 * * *", "minute */7, hour 9-17, day-of-month *, month *, day-of-week *"},
		{"*/59 3 * * *", "minute */59, hour 3, day-of-month *, month *, day-of-week *"},
		{"*/20 * * * *", "every 20 minutes"},
		{"0 */8 * * *", "every 8 hours"},
		{"15 * * * * *", "at second 15 of every minute"},
		{"0 30 9 * * *", "at 09:30 every day"},
		{"45 30 9 * * *", "at 09:30:45 every day"},
		{"@every 1s", "every second"},
		{"@every 30s", "every 30 seconds"},
		{"@every 5m", "every 5 minutes"},
		{"@every 1h", "every hour"},
		// Intervals say what sets their phase when it is not obvious.
		{"@every 36h", "every 36 hours, counted from the Unix epoch 1970-01-01T00:00:00Z"},
		{"@every 26h30m", "every 26h30m, counted from the Unix epoch 1970-01-01T00:00:00Z"},
		{"@every 7s", "every 7 seconds, counted from the Unix epoch 1970-01-01T00:00:00Z"},
		{"@every 1h30m", "every 1h30m from 00:00 UTC"},
		{"@every 1.5s", "every 1.5s"},
		{"@every 20m", "every 20 minutes"},
		{"@every 1h30m from 2030-01-01T00:00:00Z", "every 1h30m starting at 2030-01-01T00:00:00Z"},
		// Shapes without a sentence are listed field by field.
		{"1-20/3 3 * * *", "minute 1-20/3, hour 3, day-of-month *, month *, day-of-week *"},
		{"0 0 */2 * *", "minute 0, hour 0, day-of-month */2, month *, day-of-week *"},
		{"0,30 */2 * * *", "minute 0,30, hour */2, day-of-month *, month *, day-of-week *"},
		{"0,30 * * * * *", "second 0,30, minute *, hour *, day-of-month *, month *, day-of-week *"},
		{"0 0,6,9,12,15,18,21 * * *", "minute 0, hour 0,6,9,12,15,18,21, day-of-month *, month *, day-of-week *"},
		// Invalid specs have no description.
		{"61 * * * *", ""},
		{"", ""},
		{"TZ=UTC * * * * *", ""},
	}
	for _, tt := range tests {
		if got := Describe(tt.spec); got != tt.want {
			t.Errorf("Describe(%q) = %q, want %q", tt.spec, got, tt.want)
		}
	}
}
