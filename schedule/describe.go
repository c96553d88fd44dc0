package schedule

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Describe returns a short English description of spec, such as
// "every 5 minutes", "at 09:30 on Monday through Friday" or "at 00:00 on day 1
// of the month". Times are wall-clock times in whatever zone the spec is used
// with. Common shapes get a sentence; any other valid spec is described field
// by field ("minute 1-20/3, hour 3, day-of-month *, month *, day-of-week *").
// A step that does not divide its field's range is described by the values
// it fires at: "*/59 * * * *" is "at minutes 0 and 59 of every hour", not
// every 59 minutes. An interval says what it is counted from unless it
// divides an hour: "every 1h30m from 00:00 UTC", "every 26h30m, counted from
// 1970-01-01T00:00:00Z (the Unix epoch)". Describe returns "" for a spec
// that [Parse] rejects.
//
// No maintained Go library for cron descriptions is available to Kiln, so
// the wording is this package's own, close to crontab.guru's.
func Describe(spec string) string {
	s, err := Parse(spec, "")
	if err != nil {
		return ""
	}
	switch s := s.(type) {
	case *interval:
		return describeInterval(s)
	case *cronSchedule:
		return describeCron(s)
	}
	return s.String()
}

func describeInterval(s *interval) string {
	d := s.every
	var desc string
	switch {
	case d%time.Hour == 0:
		desc = every(int(d/time.Hour), "hour")
	case d < time.Hour && d%time.Minute == 0:
		desc = every(int(d/time.Minute), "minute")
	case d < time.Minute && d%time.Second == 0:
		desc = every(int(d/time.Second), "second")
	default:
		desc = "every " + formatDuration(d)
	}
	switch {
	case s.anchored:
		desc += " starting at " + s.anchor.Format(time.RFC3339Nano)
	case time.Hour%d == 0:
		// Fires on the obvious marks: every 15 minutes at :00, :15...
	case 24*time.Hour%d == 0:
		desc += " from 00:00 UTC" // every 90 minutes: 00:00, 01:30... UTC
	default:
		// Every 26h30m: the Unix epoch, not the time the entry was defined,
		// sets when it fires (see Every).
		desc += ", counted from the Unix epoch 1970-01-01T00:00:00Z"
	}
	return desc
}

// every returns "every minute" or "every 5 minutes".
func every(n int, unit string) string {
	if n == 1 {
		return "every " + unit
	}
	return "every " + strconv.Itoa(n) + " " + unit + "s"
}

func describeCron(c *cronSchedule) string {
	timeDesc, ok := describeTime(c)
	if !ok {
		return describeRaw(c)
	}
	dayDesc, ok := describeDays(c)
	if !ok {
		return describeRaw(c)
	}
	if dayDesc == "" {
		if strings.HasPrefix(timeDesc, "at ") && !strings.Contains(timeDesc, "every") {
			return timeDesc + " every day"
		}
		return timeDesc
	}
	return timeDesc + " " + dayDesc
}

// describeRaw lists the fields as written.
func describeRaw(c *cronSchedule) string {
	var parts []string
	first := fieldMinute
	if c.seconds {
		first = fieldSecond
	}
	for k := first; k < numFields; k++ {
		parts = append(parts, fieldDefs[k].name+" "+c.fields[k].text)
	}
	return strings.Join(parts, ", ")
}

// isStar reports whether f is exactly "*" (or "?").
func isStar(f cronField) bool { return f.text == "*" || f.text == "?" }

// starStep returns n when f is exactly "*/n".
func starStep(f cronField) (int, bool) {
	if len(f.terms) == 1 && f.terms[0].star && f.terms[0].stepped && !strings.Contains(f.text, ",") {
		return f.terms[0].step, true
	}
	return 0, false
}

// evenStep returns n when f is exactly "*/n" and n divides period (60 for
// seconds and minutes, 24 for hours), so that the field fires every n units
// without a break: "*/15" minutes fires every 15 minutes, but "*/59" fires
// at :00 and :59, 59 minutes and then 1 minute apart, and "*/7" restarts
// at :00 after :56.
func evenStep(f cronField, period int) (int, bool) {
	if n, ok := starStep(f); ok && period%n == 0 {
		return n, true
	}
	return 0, false
}

// unevenStep returns the values of f when f is exactly "*/n" and n does not
// divide period (see evenStep).
func unevenStep(f cronField, period int) ([]int, bool) {
	if n, ok := starStep(f); ok && period%n != 0 {
		return values(f.bits), true
	}
	return nil, false
}

// numberList joins values as English: "0 and 59", "0, 7, 14 and 21".
func numberList(vs []int) string {
	items := make([]string, len(vs))
	for i, v := range vs {
		items[i] = strconv.Itoa(v)
	}
	return joinList(items)
}

// simpleRange returns lo, hi when f is exactly "lo-hi".
func simpleRange(f cronField) (int, int, bool) {
	if len(f.terms) == 1 && f.terms[0].ranged && !f.terms[0].stepped {
		return f.terms[0].lo, f.terms[0].hi, true
	}
	return 0, 0, false
}

// values returns the set bits of b in increasing order.
func values(b uint64) []int {
	var v []int
	for b != 0 {
		i := bits.TrailingZeros64(b)
		v = append(v, i)
		b &^= 1 << uint(i)
	}
	return v
}

func clock(h, m, s int) string {
	if s != 0 {
		return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", h, m)
}

// describeTime describes the second, minute and hour fields.
func describeTime(c *cronSchedule) (string, bool) {
	sec, minute, hour := c.fields[fieldSecond], c.fields[fieldMinute], c.fields[fieldHour]
	s, secSingle := sec.singleValue()

	// Fixed times of day: "at 09:30", "at 09:00, 12:00 and 17:00".
	if secSingle && minute.timed() && hour.timed() {
		hs, ms := values(hour.bits), values(minute.bits)
		if len(hs)*len(ms) <= 6 {
			var times []string
			for _, h := range hs {
				for _, m := range ms {
					times = append(times, clock(h, m, s))
				}
			}
			return "at " + joinList(times), true
		}
		return "", false
	}

	// Sub-minute schedules in every minute.
	if isStar(minute) && isStar(hour) && !(secSingle && s == 0) {
		n, stepped := evenStep(sec, 60)
		uneven, isUneven := unevenStep(sec, 60)
		switch {
		case isStar(sec):
			return "every second", true
		case stepped:
			return every(n, "second"), true
		case isUneven:
			return "at seconds " + numberList(uneven) + " of every minute", true
		case secSingle:
			return "at second " + strconv.Itoa(s) + " of every minute", true
		}
		return "", false
	}
	if !secSingle || s != 0 {
		return "", false
	}

	m, minSingle := minute.singleValue()
	n, minStepped := evenStep(minute, 60)
	if _, uneven := unevenStep(minute, 60); uneven && !isStar(hour) {
		return "", false // listed field by field
	}
	switch {
	case isStar(hour):
		uneven, isUneven := unevenStep(minute, 60)
		switch {
		case isStar(minute):
			return "every minute", true
		case minStepped:
			return every(n, "minute"), true
		case isUneven:
			return "at minutes " + numberList(uneven) + " of every hour", true
		case minSingle && m == 0:
			return "every hour", true
		case minSingle:
			return "at minute " + strconv.Itoa(m) + " of every hour", true
		}
	case minSingle:
		if hn, ok := evenStep(hour, 24); ok {
			if m == 0 {
				return every(hn, "hour"), true
			}
			return every(hn, "hour") + " at minute " + strconv.Itoa(m), true
		}
		if hs, ok := unevenStep(hour, 24); ok {
			// "0 */5 * * *" fires at 00:00, 05:00 ... 20:00, then 00:00
			// again, 4 hours later: fixed times of the day.
			times := make([]string, len(hs))
			for i, h := range hs {
				times[i] = clock(h, m, 0)
			}
			return "at " + joinList(times), true
		}
		if lo, hi, ok := simpleRange(hour); ok {
			return "every hour from " + clock(lo, m, 0) + " through " + clock(hi, m, 0), true
		}
	case isStar(minute) || minStepped:
		if lo, hi, ok := simpleRange(hour); ok {
			ms := values(minute.bits)
			desc := "every minute"
			if minStepped {
				desc = every(n, "minute")
			}
			return desc + " from " + clock(lo, ms[0], 0) + " through " + clock(hi, ms[len(ms)-1], 0), true
		}
	}
	return "", false
}

var monthNames = [13]string{"", "January", "February", "March", "April", "May", "June",
	"July", "August", "September", "October", "November", "December"}

// listPhrase describes a field of plain values and ranges: "1", "1 and 15",
// "1 through 7", "Monday through Friday". It fails for steps and stars.
func listPhrase(f cronField, name func(int) string) (string, bool) {
	var parts []string
	for _, t := range f.terms {
		switch {
		case t.star || t.stepped:
			return "", false
		case t.ranged:
			parts = append(parts, name(t.lo)+" through "+name(t.hi))
		default:
			parts = append(parts, name(t.lo))
		}
	}
	return joinList(parts), true
}

// describeDays describes the day-of-month, month and day-of-week fields; ""
// means every day.
func describeDays(c *cronSchedule) (string, bool) {
	dom, month, dow := c.fields[fieldDom], c.fields[fieldMonth], c.fields[fieldDow]
	weekday := func(d int) string { return time.Weekday(d % 7).String() }
	monthName := func(m int) string { return monthNames[m] }

	var months string
	if !isStar(month) {
		var ok bool
		if months, ok = listPhrase(month, monthName); !ok {
			return "", false
		}
	}
	var days string
	if !isStar(dom) {
		list, ok := listPhrase(dom, strconv.Itoa)
		if !ok {
			return "", false
		}
		word := "day "
		if len(dom.terms) > 1 || dom.terms[0].ranged {
			word = "days "
		}
		days = "on " + word + list + " of the month"
		if months != "" && isStar(dow) {
			days, months = "on "+word+list+" of "+months, ""
		}
	}
	if !isStar(dow) {
		list, ok := listPhrase(dow, weekday)
		if !ok {
			return "", false
		}
		if days != "" {
			days += " or on " + list // both day fields restricted: either matches
		} else {
			days = "on " + list
		}
	}
	switch {
	case months == "":
		return days, true
	case days == "":
		return "in " + months, true
	}
	return days + " in " + months, true
}

// joinList joins items as English: "a", "a and b", "a, b and c".
func joinList(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
