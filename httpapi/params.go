package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// query parses r's query string and rejects parameters not in allowed, so
// that a misspelt filter is an error rather than ignored.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("", "malformed query string: %v", err)
	}
	for name := range q {
		if !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return nil, badRequest(name, "unknown query parameter %q: this route takes none", name)
			}
			return nil, badRequest(name, "unknown query parameter %q (want %s)", name, strings.Join(allowed, ", "))
		}
	}
	return q, nil
}

// list returns the values of a repeatable parameter
// (state=failed&state=running), without empty ones.
func list(q url.Values, name string) []string {
	var out []string
	for _, v := range q[name] {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// intParam returns the integer parameter name, def when absent, or a 400
// Error when it is not an integer in [lo, hi].
func intParam(q url.Values, name string, def, lo, hi int64) (int64, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, badRequest(name, "%q: want an integer from %d to %d", s, lo, hi)
	}
	return n, nil
}

// pathID returns the path parameter "id" as a job ID, or a 400 Error.
func pathID(r *http.Request) (int64, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, badRequest("id", "job ID %q: want a positive integer", s)
	}
	return id, nil
}

// parseDuration reads a duration field given as a number of seconds (90,
// 0.5; rounded to the nanosecond) or a Go duration string ("90s", "1h30m"). Absent is 0; negative
// values are an error.
func parseDuration(field string, raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var d time.Duration
	var secs float64
	var s string
	switch {
	case json.Unmarshal(raw, &secs) == nil:
		if secs >= math.MaxInt64/float64(time.Second) { // float64(MaxInt64) is 2^63, which no Duration holds
			return 0, badRequest(field, "%s seconds is too long", raw)
		}
		// Rounded to the nanosecond: 1.001 is 1.000999999… in binary,
		// and a rate limit's period must be whole microseconds.
		d = time.Duration(math.Round(secs * float64(time.Second)))
	case json.Unmarshal(raw, &s) == nil:
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, badRequest(field, "invalid duration %q: want seconds as a number or a Go duration such as \"90s\" or \"1h30m\"", s)
		}
	default:
		return 0, badRequest(field, "got %s: want seconds as a number or a duration string such as \"90s\"", raw)
	}
	if d < 0 {
		return 0, badRequest(field, "negative duration %s", raw)
	}
	return d, nil
}

// parseTime reads an RFC 3339 time field; "" is the zero time.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest(field, "invalid time %q: want RFC 3339, such as \"2030-01-02T15:04:05Z\"", s)
	}
	return t.UTC(), nil
}
