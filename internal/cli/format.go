package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// timeLayout is how tables and job details show times: RFC 3339 in UTC, as
// --at takes them.
const timeLayout = "2006-01-02T15:04:05Z07:00"

// detailTimeLayout adds milliseconds, for job details.
const detailTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// fmtTime formats t in UTC with layout, or "-" for a nil time.
func fmtTime(t *time.Time, layout string) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(layout)
}

// fmtDuration formats d briefly, with a precision that suits its size.
func fmtDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDuration(-d)
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		ms := float64(d) / float64(time.Millisecond)
		prec := 0
		if ms < 10 {
			prec = 2
		} else if ms < 100 {
			prec = 1
		}
		return strconv.FormatFloat(ms, 'f', prec, 64) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	default:
		return d.Round(time.Second).String()
	}
}

// fmtUntil formats how long until something happens: "10m0s", "3 days".
func fmtUntil(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	}
	return d.Round(time.Second).String()
}

// oneLine returns s on one line, cut to at most n runes with "…".
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// comma formats n with thousands separators: 12345 gives "12,345".
func comma(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// attemptOf formats a job's attempt count, like "2/25".
func attemptOf(row *kiln.JobRow) string {
	return fmt.Sprintf("%d/%d", row.Attempt, row.MaxAttempts)
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// stateCounts formats counts by state in life-cycle order, skipping zeros:
// "3 available, 1 running, 12 completed", or "no jobs".
func stateCounts(counts map[kiln.JobState]int) string {
	var parts []string
	for _, s := range kilntype.JobStates() {
		if n := counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", comma(int64(n)), s))
		}
	}
	if len(parts) == 0 {
		return "no jobs"
	}
	return strings.Join(parts, ", ")
}
