package dashboard

import (
	"testing"
	"time"
)

func TestUnescapeHTML(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":"\u003cb\u003e \u0026"}`: `{"a":"<b> &"}`,
		`{"a":"\\u003cb"}`:             `{"a":"\\u003cb"}`, // an escaped backslash, then text
		`{"a":"\\\u003cb"}`:            `{"a":"\\<b"}`,
		`{"a":"\u00e9\u003c"}`:         `{"a":"\u00e9<"}`,
		`{"a":"plain"}`:                `{"a":"plain"}`,
		`"\u003`:                       `"\u003`,
	} {
		if got := unescapeHTML(in); got != want {
			t.Errorf("unescapeHTML(%s) = %s; want %s", in, got, want)
		}
	}
}

func TestRateSampler(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newRateSampler(func() time.Time { return now })
	s.add(100, 10)
	now = now.Add(500 * time.Millisecond)
	s.add(1000, 1000) // ignored: too soon
	now = now.Add(1500 * time.Millisecond)
	s.add(140, 12)
	pts := s.points()
	if len(pts) != 1 || pts[0].Succeeded != 20 || pts[0].Failed != 1 {
		t.Fatalf("points %+v; want one point of 20/s succeeded, 1/s failed", pts)
	}
	now = now.Add(time.Second)
	s.add(5, 0) // counters went down: a new series
	if pts := s.points(); len(pts) != 0 {
		t.Fatalf("points after a reset: %+v; want none", pts)
	}
	for range 200 {
		now = now.Add(time.Second)
		s.add(5, 0)
	}
	if n := len(s.points()); n != int(rateWindow/time.Second) {
		t.Errorf("%d points kept; want %d (the window)", n, int(rateWindow/time.Second))
	}
}

// TestTraceID checks traceID on valid and malformed W3C traceparents.
func TestTraceID(t *testing.T) {
	for tp, want := range map[string]string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01":          "4bf92f3577b34da6a3ce929d0e0e4736",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extended": "4bf92f3577b34da6a3ce929d0e0e4736", // a later version
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01":          "",                                 // invalid ID
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01":          "",                                 // upper case
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01":           "",                                 // short
		"00-4bf92f3577b34da6a3ce929d0e0e4736":                              "",
		"":                                                                 "",
	} {
		got, ok := traceID(tp)
		if got != want || ok != (want != "") {
			t.Errorf("traceID(%q) = %q, %v; want %q", tp, got, ok, want)
		}
	}
}
