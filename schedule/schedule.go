package schedule

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Schedule is a recurring schedule: a cron spec read in a time zone, or a
// fixed interval. Every Schedule returned by this package is immutable and
// safe for concurrent use.
type Schedule interface {
	// Next returns the first fire time strictly after after, in UTC, or the
	// zero time if the schedule never fires again (which happens only at the
	// far end of time.Time's range). Successive calls that pass the previous
	// result give strictly increasing times.
	Next(after time.Time) time.Time
	// String returns the schedule's canonical spec. Parse accepts it back,
	// with the same zone, and returns an equivalent Schedule. The zone is not
	// part of the spec.
	String() string
}

// MaxSpecLength is the longest spec, in bytes, that Parse accepts.
const MaxSpecLength = 1024

// Parse parses a schedule spec to be read in the IANA time zone tz ("" means
// UTC). It accepts:
//
//   - a standard five-field cron spec, "minute hour day-of-month month
//     day-of-week", such as "30 9 * * MON-FRI";
//   - the same with a leading seconds field (six fields), such as
//     "*/10 * * * * *";
//   - the descriptors @yearly (or @annually), @monthly, @weekly, @daily (or
//     @midnight) and @hourly;
//   - "@every <duration>", a fixed interval as returned by [Every], where
//     duration is a Go duration of at least one second ("90s", "1h30m"),
//     optionally followed by "from <RFC 3339 time>" to anchor it as
//     [EveryFrom] does.
//
// Fields accept numbers, "*", lists ("1,15"), ranges ("1-5", and ranges that
// wrap around such as "22-2" or "FRI-MON"), steps ("*/15", "10-40/10", and
// "5/15" meaning 5 through the maximum, every 15), three-letter month and
// weekday names in any case, 0 or 7 for Sunday, and "?" as a synonym of "*" in
// the day fields. When both the day-of-month and the day-of-week fields are
// restricted (neither starts with "*" or "?"), a day matches when either does,
// as in POSIX crontab and Vixie cron; otherwise both must match. The cron
// fields are parsed with github.com/netresearch/go-cron; fire times are
// computed by this package (see the package documentation for time zones and
// daylight-saving time).
//
// Parse returns an error, prefixed "schedule: " and quoting the spec, for a
// malformed spec (naming the offending field and value, as in
// `schedule: "61 * * * *": minute field: value 61 out of range 0-59`), a spec
// that can never fire ("0 0 30 2 *"), an interval below one second, a spec
// with a TZ= or CRON_TZ= prefix (pass the zone as tz instead), or an unknown
// zone. It never panics.
func Parse(spec string, tz string) (Schedule, error) {
	loc, err := loadZone(tz)
	if err != nil {
		return nil, err
	}
	if len(spec) > MaxSpecLength {
		return nil, fmt.Errorf("schedule: spec too long: %d bytes, at most %d", len(spec), MaxSpecLength)
	}
	s := strings.Join(strings.Fields(spec), " ")
	if s == "" {
		return nil, errors.New("schedule: empty spec")
	}
	upper := strings.ToUpper(s)
	if strings.HasPrefix(upper, "TZ=") || strings.HasPrefix(upper, "CRON_TZ=") {
		return nil, fmt.Errorf("schedule: %q: time zone prefix not allowed in the spec; pass the zone as Parse's tz argument", spec)
	}
	var sched Schedule
	if strings.HasPrefix(s, "@") {
		sched, err = parseDescriptor(s, loc)
	} else {
		sched, err = parseCron(s, loc)
	}
	if err != nil {
		return nil, fmt.Errorf("schedule: %q: %w", spec, err)
	}
	return sched, nil
}

// descriptors maps each accepted descriptor to its canonical name and the
// equivalent five-field cron spec.
var descriptors = map[string][2]string{
	"@yearly":   {"@yearly", "0 0 1 1 *"},
	"@annually": {"@yearly", "0 0 1 1 *"},
	"@monthly":  {"@monthly", "0 0 1 * *"},
	"@weekly":   {"@weekly", "0 0 * * 0"},
	"@daily":    {"@daily", "0 0 * * *"},
	"@midnight": {"@daily", "0 0 * * *"},
	"@hourly":   {"@hourly", "0 * * * *"},
}

// parseDescriptor parses a spec starting with "@"; s has single spaces.
func parseDescriptor(s string, loc *time.Location) (Schedule, error) {
	name, rest, _ := strings.Cut(s, " ")
	name = strings.ToLower(name)
	if name == "@every" {
		return parseEvery(rest)
	}
	d, ok := descriptors[name]
	if !ok {
		return nil, fmt.Errorf("unknown descriptor %q (want @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every)", name)
	}
	if rest != "" {
		return nil, fmt.Errorf("unexpected %q after %s", rest, name)
	}
	return newCron(d[0], strings.Fields(d[1]), loc)
}

// parseEvery parses the text after "@every ": "<duration> [from <time>]".
func parseEvery(rest string) (Schedule, error) {
	if rest == "" {
		return nil, errors.New("@every: missing duration")
	}
	words := strings.Split(rest, " ")
	d, err := time.ParseDuration(words[0])
	if err != nil {
		return nil, fmt.Errorf("@every: invalid duration %q", words[0])
	}
	switch {
	case len(words) == 1:
		return newInterval(d, time.Unix(0, 0), false)
	case len(words) == 3 && strings.EqualFold(words[1], "from"):
		anchor, err := time.Parse(time.RFC3339Nano, words[2])
		if err != nil {
			return nil, fmt.Errorf("@every: invalid anchor %q: want an RFC 3339 time such as 2030-01-01T00:00:00Z", words[2])
		}
		return newInterval(d, anchor, true)
	default:
		return nil, fmt.Errorf("@every: unexpected %q after the duration (want \"from <RFC 3339 time>\")", strings.Join(words[1:], " "))
	}
}

// parseCron parses a five- or six-field spec; s has single spaces.
func parseCron(s string, loc *time.Location) (Schedule, error) {
	texts := strings.Split(s, " ")
	if len(texts) != 5 && len(texts) != 6 {
		return nil, fmt.Errorf("expected 5 fields (minute hour day-of-month month day-of-week) or 6 (with a leading second), found %d", len(texts))
	}
	return newCron(s, texts, loc)
}

// fieldError is a problem with one cron field.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + " field: " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// zones caches loaded locations by name; only successful loads are kept, so
// it holds at most the zones the system knows.
var zones sync.Map // string -> *time.Location

// loadZone loads an IANA zone; "" and "UTC" mean UTC.
func loadZone(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	if loc, ok := zones.Load(tz); ok {
		return loc.(*time.Location), nil
	}
	if tz == "Local" {
		// time.LoadLocation maps "Local" to the machine's zone, which is no
		// IANA name and differs between machines.
		return nil, fmt.Errorf("schedule: time zone %q is not an IANA zone name (such as \"Europe/Berlin\")", tz)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("schedule: unknown time zone %q", tz)
	}
	zones.Store(tz, loc)
	return loc, nil
}

// NextN returns the next n fire times of s strictly after after, in UTC and
// in increasing order. It stops early if the schedule ends (Next returns the
// zero time); n <= 0 gives nil.
func NextN(s Schedule, after time.Time, n int) []time.Time {
	if n <= 0 {
		return nil
	}
	times := make([]time.Time, 0, min(n, 1024))
	for range n {
		next := s.Next(after)
		if next.IsZero() {
			break
		}
		times = append(times, next)
		after = next
	}
	return times
}
