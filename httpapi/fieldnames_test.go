package httpapi

import (
	"net/http"
	"testing"
)

// TestFieldNamesExact: field names are case-sensitive and given once, at
// every depth of every body; encoding/json matched "LIMIT" to "limit" and
// kept the last of two "limit"s. The 400 names the field by its path.
func TestFieldNamesExact(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	for _, c := range []struct{ method, path, body, field, msg string }{
		{"PUT", "/rate-limits/echo", `{"LIMIT":1,"period":"1s"}`, "LIMIT", `unknown field "LIMIT": field names are case-sensitive; did you mean "limit"?`},
		{"PUT", "/rate-limits/echo", `{"limit":1,"Period":"1s"}`, "Period", "case-sensitive"},
		{"PUT", "/rate-limits/echo", `{"limit":1,"period":"1s","limit":5}`, "limit", `duplicate field "limit"`},
		{"PUT", "/rate-limits/echo", `{"limit":1,"period":"1s","\u006cimit":5}`, "limit", "duplicate field"},
		{"POST", "/jobs", `{"Kind":"echo"}`, "Kind", "case-sensitive"}, // a field of the embedded template
		{"POST", "/jobs", `{"kind":"echo","RUN_IN":5}`, "RUN_IN", "case-sensitive"},
		{"POST", "/jobs", `{"kind":"echo","kind":"fail"}`, "kind", "duplicate field"},
		{"POST", "/jobs", `{"kind":"echo","unique":{"Key":"a"}}`, "unique.Key", "case-sensitive"},
		{"POST", "/jobs", `{"kind":"echo","unique":{"key":"a","key":"b"}}`, "unique.key", "duplicate field"},
		{"POST", "/jobs", `{"kind":"echo","args":{"n":1,"n":2}}`, "args.n", "duplicate field"},
		{"POST", "/jobs", `{"kind":"echo","metadata":{"a":"1","a":"2"}}`, "metadata.a", "duplicate field"},
		{"POST", "/jobs/batch", `{"jobs":[{"kind":"echo"},{"kind":"echo","Queue":"x"}]}`, "jobs[1].Queue", "case-sensitive"},
		{"POST", "/jobs/batch", `{"jobs":[{"kind":"echo"}],"jobs":[]}`, "jobs", "duplicate field"},
		{"POST", "/jobs/bulk", `{"action":"retry","filter":{"States":["discarded"]}}`, "filter.States", "case-sensitive"},
		{"PUT", "/recurring/r", `{"Schedule":"@daily","kind":"echo"}`, "Schedule", "case-sensitive"},
		{"PUT", "/recurring/r", `{"schedule":"@daily","kind":"echo","schedule":"@hourly"}`, "schedule", "duplicate field"},
		{"PUT", "/retention", `{"state":"completed","Keep":"1h"}`, "Keep", "case-sensitive"},
	} {
		e.fail(c.method, c.path, c.body, http.StatusBadRequest, c.field, c.msg)
	}
	if n := e.jobCount(); n != 0 {
		t.Errorf("refused bodies enqueued %d jobs", n)
	}
	if v := e.rateLimit("echo"); v.Override != nil {
		t.Errorf("refused bodies set a rate limit: %+v", v.Override)
	}
	if _, err := e.client.RecurringGet(t.Context(), "r"); err == nil {
		t.Error("refused bodies stored a recurring entry")
	}
	// Keys that differ in case inside args are the args' business, and
	// distinct names are fine.
	e.enqueue(`{"kind":"echo","args":{"n":1},"metadata":{"a":"1","A":"2"}}`)
}

// TestNumberMessages: a number that does not fit says why: an integer
// field wants a whole number (1.0 is not one), and a period of 2^63 ns or
// more is too long (it used to overflow into "negative duration").
func TestNumberMessages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	for _, c := range []struct{ body, field, msg string }{
		{`{"limit":1.0,"period":"1s"}`, "limit", "got a JSON number 1.0 at byte 12, want a whole number"},
		{`{"limit":1,"period":"1s","burst":9223372036854775808}`, "burst", "want a whole number from -"},
		{`{"limit":1,"period":9223372036.854775807}`, "period", "9223372036.854775807 seconds is too long"},
		{`{"limit":1,"period":9223372036.854775}`, "period", "out of range"}, // just under: a Duration, then refused by the limit's range
	} {
		e.fail("PUT", "/rate-limits/echo", c.body, http.StatusBadRequest, c.field, c.msg)
	}
}
