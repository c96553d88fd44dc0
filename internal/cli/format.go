package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
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

// termText returns free text (a partition or unique key, a tag, a queue
// or recurring name, a job's error, a log line: anything a tenant, a
// worker or an operator chose) as it may be printed on a terminal. Text
// that is valid UTF-8 without control characters (C0, DEL, C1) and
// without the bidirectional controls that reorder what a line shows is
// returned as it is. Other text is quoted the way strconv.Quote spells
// it: "acme\x1b]0;x\a" prints as "acme\x1b]0;x\a", quotes and
// backslashes included, so no escape sequence reaches the terminal (to
// set its title, clear the screen, write the clipboard) and the text
// cannot pass for other output. With lines, each line of s is checked on
// its own and the line breaks and TABs are kept (errors, stack traces,
// log lines, JSON); without, a line break or a TAB is quoted too (a field
// or a table cell). Every table and show view of the CLI prints free text
// through it; --json output needs none of this (encoding/json escapes
// control characters).
func termText(s string, lines bool) string {
	if !lines {
		if !termUnsafe(s, false) {
			return s
		}
		return strconv.Quote(s)
	}
	if !termUnsafe(s, true) {
		return s
	}
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		if termUnsafe(l, true) {
			ls[i] = strconv.Quote(l)
		}
	}
	return strings.Join(ls, "\n")
}

// termUnsafe reports whether s is not valid UTF-8 or holds a control
// character or a bidirectional control; with lines, "\n" and "\t" are
// allowed.
func termUnsafe(s string, lines bool) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		switch {
		case lines && (r == '\n' || r == '\t'):
		case unicode.IsControl(r),
			r == '\u061c', r == '\u200e', r == '\u200f', r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069':
			return true
		}
	}
	return false
}

// oneLine returns s on one line, cut to at most n runes with "…", made
// safe for a terminal (termText).
func oneLine(s string, n int) string {
	s = termText(strings.Join(strings.Fields(s), " "), false)
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
