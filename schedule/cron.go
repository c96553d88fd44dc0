package schedule

import (
	"fmt"
	"math/bits"
	"time"
)

// searchYears bounds how far ahead Next looks for a matching wall-clock time.
// The Gregorian calendar, weekdays included, repeats every 400 years, so a
// spec that matches nothing in 401 years matches nothing ever; Parse rejects
// such specs, and Next never reaches the bound for the others.
const searchYears = 401

// cronSchedule is a parsed cron spec evaluated in a time zone. It is
// immutable and safe for concurrent use.
type cronSchedule struct {
	spec    string // canonical form, returned by String
	loc     *time.Location
	fields  [numFields]cronField
	seconds bool // the spec has a seconds field

	// interval is true when the second, minute or hour field holds "*", a
	// range or a step: such a schedule fires at every real instant whose wall
	// clock matches, including both instances of a repeated hour.
	interval bool
	// dayOr is true when both day fields are restricted (neither starts with
	// "*" or "?"): a day then matches when either field matches, as in
	// Vixie cron and POSIX crontab.
	dayOr bool
}

var _ Schedule = (*cronSchedule)(nil)

func (c *cronSchedule) String() string { return c.spec }

// Next returns the first fire time strictly after after, in UTC. Fire times
// are whole seconds. See the package documentation for the rules applied at
// daylight-saving transitions.
//
// Next walks the zone's periods of constant offset, starting at after. Within
// a period with offset off the wall clock reads instant+off, so the period's
// fire times are its matching wall-clock times w, each at instant w-off. Where
// the clock jumps forward (a gap), the jump itself fires if any wall-clock
// time in the skipped span matches. Where it jumps back, wall-clock times
// already shown are shown again; a schedule that is not an interval schedule
// skips them.
func (c *cronSchedule) Next(after time.Time) time.Time {
	// The first whole second strictly after after.
	start := after.UTC().Truncate(time.Second).Add(time.Second)
	m := matcher{c: c, limit: wall(start, 0).AddDate(searchYears, 0, 0)}
	if !m.limit.After(wall(start, 0)) {
		return time.Time{} // at the end of time.Time's range
	}
	// t is the start of the part of the timeline still to search. The loop
	// bound is a safety net: the search limit ends the loop long before it.
	t := start
	for range 100_000 {
		end, off := periodEnd(t, c.loc)

		// A forward jump exactly at t: wall-clock times in
		// [t+prevOff, t+off) never happen, and the schedule fires once, at
		// t, if any of them matches.
		if _, prevOff := t.Add(-time.Nanosecond).In(c.loc).Zone(); prevOff < off {
			if w, ok := m.next(wall(t, prevOff)); ok && w.Before(wall(t, off)) {
				return t.UTC()
			}
		}

		lo := wall(t, off)
		if !c.interval {
			// Skip wall-clock times already shown before t (after a
			// backward jump): they fired at their first instance.
			if hw := c.highWater(t); hw.After(lo) {
				lo = hw
			}
		}
		w, ok := m.next(lo)
		if !ok {
			return time.Time{}
		}
		if end.IsZero() || w.Before(wall(end, off)) {
			return w.Add(-time.Duration(off) * time.Second)
		}
		t = end
	}
	return time.Time{}
}

// periodEnd returns the zone offset at t, in seconds east of UTC, and the
// first instant after t at which it may change (zero if never).
//
// It relies on time.Time.ZoneBounds but does not trust an end at or before t:
// for instants past a zone's table of transitions, where Go computes them
// from the zone's rule, ZoneBounds can report such an end (Europe/Berlin on
// the last day of 2104, a leap year, with Go 1.26). The offset is then taken
// to hold for the next hour, or up to the instant it changes within that hour.
func periodEnd(t time.Time, loc *time.Location) (time.Time, int) {
	local := t.In(loc)
	_, off := local.Zone()
	_, end := local.ZoneBounds()
	if end.IsZero() || end.After(t) {
		return end, off
	}
	offsetAt := func(i time.Time) int { _, o := i.In(loc).Zone(); return o }
	end = t.Add(time.Hour)
	if offsetAt(end.Add(-time.Nanosecond)) != off {
		// Find the change: lo keeps the offset, hi does not.
		lo, hi := t, end.Add(-time.Nanosecond)
		for hi.Sub(lo) > time.Nanosecond {
			mid := lo.Add(hi.Sub(lo) / 2)
			if offsetAt(mid) == off {
				lo = mid
			} else {
				hi = mid
			}
		}
		end = hi
	}
	return end, off
}

// highWater returns the exclusive upper bound of the wall-clock times shown
// at instants before t. It is later than t's own wall-clock time only in the
// span after a backward jump. Offsets differ by far less than 48 hours, so
// only the periods of the 48 hours before t can matter.
func (c *cronSchedule) highWater(t time.Time) time.Time {
	var hw time.Time
	end := t
	for range 16 {
		prev := end.Add(-time.Nanosecond).In(c.loc)
		_, prevOff := prev.Zone()
		if w := wall(end, prevOff); hw.IsZero() || w.After(hw) {
			hw = w
		}
		prevStart, _ := prev.ZoneBounds()
		if prevStart.IsZero() || !prevStart.After(t.Add(-48*time.Hour)) || !prevStart.Before(end) {
			break
		}
		end = prevStart
	}
	return hw
}

// matcher answers "first matching wall-clock time at or after from" for one
// call of Next, remembering its last answer: successive periods usually ask
// from a later point that the answer still covers, so a rare schedule
// (29 February) is searched once rather than once per period.
type matcher struct {
	c           *cronSchedule
	limit       time.Time
	from, found time.Time // found is the first match at or after from
	ok          bool      // from and found are set
}

func (m *matcher) next(from time.Time) (time.Time, bool) {
	switch {
	case m.ok && !from.Before(m.from) && !from.After(m.found):
		return m.found, true
	case m.ok && from.Before(m.from):
		// Only [from, m.from) is new ground.
		if w, ok := m.c.match(from, m.from); ok {
			m.from, m.found = from, w
			return w, true
		}
		m.from = from
		return m.found, true
	}
	w, ok := m.c.match(from, m.limit)
	if !ok {
		return time.Time{}, false
	}
	m.from, m.found, m.ok = from, w, true
	return w, true
}

// wall returns the wall-clock reading of instant t at offset off seconds east
// of UTC, represented as a time.Time in UTC with that reading.
func wall(t time.Time, off int) time.Time {
	return t.UTC().Add(time.Duration(off) * time.Second)
}

// match returns the earliest wall-clock time at or after from (a reading
// represented in UTC, see wall) that the fields match, searching up to limit.
func (c *cronSchedule) match(from, limit time.Time) (time.Time, bool) {
	t := from
	for t.Before(limit) {
		year, month, day := t.Date()
		hour, minute, second := t.Clock()
		if c.fields[fieldMonth].bits&(1<<uint(month)) == 0 {
			if m, ok := nextBit(c.fields[fieldMonth].bits, int(month)+1); ok && m <= 12 {
				t = time.Date(year, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
			} else {
				m, _ := nextBit(c.fields[fieldMonth].bits, 1)
				t = time.Date(year+1, time.Month(m), 1, 0, 0, 0, 0, time.UTC)
			}
			continue
		}
		if !c.dayMatches(day, t.Weekday()) {
			t = time.Date(year, month, day+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		h, ok := nextBit(c.fields[fieldHour].bits, hour)
		if !ok {
			t = time.Date(year, month, day+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if h != hour {
			t = time.Date(year, month, day, h, 0, 0, 0, time.UTC)
			continue
		}
		m, ok := nextBit(c.fields[fieldMinute].bits, minute)
		if !ok {
			t = time.Date(year, month, day, hour+1, 0, 0, 0, time.UTC)
			continue
		}
		if m != minute {
			t = time.Date(year, month, day, hour, m, 0, 0, time.UTC)
			continue
		}
		s, ok := nextBit(c.fields[fieldSecond].bits, second)
		if !ok {
			t = time.Date(year, month, day, hour, minute+1, 0, 0, time.UTC)
			continue
		}
		return time.Date(year, month, day, hour, minute, s, 0, time.UTC), true
	}
	return time.Time{}, false
}

// dayMatches applies the day-of-month and day-of-week fields to a date.
func (c *cronSchedule) dayMatches(day int, weekday time.Weekday) bool {
	dom := c.fields[fieldDom].bits&(1<<uint(day)) != 0
	dow := c.fields[fieldDow].bits&(1<<uint(weekday)) != 0
	if c.dayOr {
		return dom || dow
	}
	return dom && dow
}

// nextBit returns the lowest set bit of set at or above from.
func nextBit(set uint64, from int) (int, bool) {
	if from > 63 {
		return 0, false
	}
	rest := set >> uint(from) << uint(from)
	if rest == 0 {
		return 0, false
	}
	return bits.TrailingZeros64(rest), true
}

// newCron builds a cron schedule from already split fields. texts has five
// or six entries; spec is the canonical text for String.
func newCron(spec string, texts []string, loc *time.Location) (*cronSchedule, error) {
	c := &cronSchedule{spec: spec, loc: loc, seconds: len(texts) == 6}
	if len(texts) == 5 {
		texts = append([]string{"0"}, texts...)
	}
	for i, text := range texts {
		f, err := parseField(fieldKind(i), text)
		if err != nil {
			return nil, &fieldError{field: fieldDefs[i].name, err: err}
		}
		c.fields[i] = f
	}
	c.interval = !c.fields[fieldSecond].timed() || !c.fields[fieldMinute].timed() || !c.fields[fieldHour].timed()
	c.dayOr = !c.fields[fieldDom].starLike() && !c.fields[fieldDow].starLike()
	if !c.satisfiable() {
		err := fmt.Errorf("day %s never occurs in month %s", c.fields[fieldDom].text, c.fields[fieldMonth].text)
		return nil, &fieldError{field: fieldDefs[fieldDom].name, err: err}
	}
	return c, nil
}

// daysIn is the most days each month can have (February in a leap year).
var daysIn = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// satisfiable reports whether some date matches the day and month fields;
// it is false for specs such as "0 0 30 2 *". Every hour, minute and second
// field matches some value, so only the days can rule out every date.
func (c *cronSchedule) satisfiable() bool {
	dom, dow := c.fields[fieldDom], c.fields[fieldDow]
	switch {
	case c.dayOr:
		return true // every month has every weekday
	case dom.starLike():
		return true // day 1 is in the set and falls on every weekday in turn
	case dow.bits == 0x7f:
		for m := 1; m <= 12; m++ {
			if c.fields[fieldMonth].bits&(1<<uint(m)) != 0 && dom.bits&(uint64(1)<<(daysIn[m]+1)-1) != 0 {
				return true
			}
		}
		return false
	}
	// A day of the month and a stepped weekday field ("0 0 29 2 */7"):
	// search one full 400-year cycle of the calendar.
	_, ok := c.match(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000+searchYears, 1, 1, 0, 0, 0, 0, time.UTC))
	return ok
}
