package schedule

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// MinInterval is the shortest interval [Every], [EveryFrom] and "@every"
// accept.
const MinInterval = time.Second

// interval fires at anchor + k*every for k = 0, 1, 2, ...: absolute instants,
// independent of any time zone. It is immutable and safe for concurrent use.
type interval struct {
	every    time.Duration
	anchor   time.Time // in UTC, without a monotonic reading
	anchored bool      // anchor was given (String then includes it)
}

var _ Schedule = (*interval)(nil)

// Every returns a schedule that fires every d at the instants epoch + k*d
// (k = 0, 1, 2, ...), where epoch is the Unix epoch 1970-01-01T00:00:00Z: it
// is [EveryFrom](d, epoch) with the shorter String "@every <d>", the form
// go-cron and robfig/cron use. Every process that builds the same interval
// gets the same fire times, whenever it starts: Every(time.Hour) fires on
// every UTC hour, Every(90*time.Minute) at 00:00, 01:30, 03:00... UTC.
// Intervals are absolute: they ignore time zones and daylight-saving time.
//
// Every returns an error if d is below [MinInterval] (one second).
func Every(d time.Duration) (Schedule, error) {
	s, err := newInterval(d, time.Unix(0, 0), false)
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	return s, nil
}

// EveryFrom returns a schedule that fires at anchor, anchor + d,
// anchor + 2d, and so on: for an after before anchor, Next returns anchor
// itself. Like [Every] it ignores time zones and daylight-saving time. Its
// String is "@every <d> from <anchor in RFC 3339, UTC>", for example
// "@every 1h30m from 2030-01-01T00:00:00Z", which [Parse] accepts back. A zero
// anchor means the Unix epoch, as for Every.
//
// EveryFrom returns an error if d is below [MinInterval] (one second) or if
// anchor's year (in UTC) is outside 1-9999, which RFC 3339 cannot write.
func EveryFrom(d time.Duration, anchor time.Time) (Schedule, error) {
	if anchor.IsZero() {
		return Every(d)
	}
	s, err := newInterval(d, anchor, true)
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	return s, nil
}

// newInterval checks and builds an interval; its errors have no prefix.
func newInterval(d time.Duration, anchor time.Time, anchored bool) (*interval, error) {
	if d < MinInterval {
		return nil, fmt.Errorf("interval %v below the minimum of %v", d, MinInterval)
	}
	anchor = anchor.UTC() // also drops any monotonic clock reading
	if y := anchor.Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("interval anchor year %d out of range 1-9999", y)
	}
	return &interval{every: d, anchor: anchor, anchored: anchored}, nil
}

var nanosPerSecond = big.NewInt(int64(time.Second))

// Next returns anchor + k*every for the smallest k >= 0 that is strictly
// after after, in UTC. It works in exact integer arithmetic, so it holds for
// any after, however far from the anchor.
func (s *interval) Next(after time.Time) time.Time {
	if after.Before(s.anchor) {
		return s.anchor
	}
	// k = floor((after - anchor) / every) + 1, in nanoseconds.
	diff := new(big.Int).Sub(unixNanos(after), unixNanos(s.anchor))
	every := big.NewInt(int64(s.every))
	k := new(big.Int).Quo(diff, every) // diff >= 0, so Quo floors
	k.Add(k, big.NewInt(1))
	next := k.Mul(k, every)
	next.Add(next, unixNanos(s.anchor))
	sec, nsec := new(big.Int).DivMod(next, nanosPerSecond, new(big.Int))
	// Beyond time.Time's range (about 292 billion years) there is no next time.
	if !sec.IsInt64() || sec.Int64() > 1<<62 {
		return time.Time{}
	}
	return time.Unix(sec.Int64(), nsec.Int64()).UTC()
}

// unixNanos returns t as nanoseconds since the Unix epoch, without overflow.
func unixNanos(t time.Time) *big.Int {
	n := big.NewInt(t.Unix())
	n.Mul(n, nanosPerSecond)
	return n.Add(n, big.NewInt(int64(t.Nanosecond())))
}

func (s *interval) String() string {
	spec := "@every " + formatDuration(s.every)
	if s.anchored {
		spec += " from " + s.anchor.Format(time.RFC3339Nano)
	}
	return spec
}

// formatDuration writes d as time.ParseDuration reads it, without the zero
// units time.Duration.String adds: "1h30m" rather than "1h30m0s", "48h",
// "1m500ms".
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		b.WriteString(strconv.FormatInt(int64(h), 10) + "h")
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		b.WriteString(strconv.FormatInt(int64(m), 10) + "m")
		d -= m * time.Minute
	}
	if d > 0 || b.Len() == 0 {
		b.WriteString(d.String()) // below a minute: "30s", "1.5s", "500ms"
	}
	return b.String()
}
