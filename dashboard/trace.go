package dashboard

import (
	"strings"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// traceIDPlaceholder is what Options.TraceURL has in place of the trace
// ID.
const traceIDPlaceholder = "{trace_id}"

// jobTrace is the trace of the enqueue that made a job, for its page.
type jobTrace struct {
	// ID is the trace ID: 32 lowercase hex digits.
	ID string
	// URL is Options.TraceURL with the ID in it; "" without TraceURL.
	URL string
}

// traceOf returns the trace of job's enqueue, from the W3C traceparent
// that tracing stored in its metadata (kiln.traceparent), linked by
// urlTemplate (Options.TraceURL) when not empty; nil when the job has no
// valid traceparent.
func traceOf(job *kilntype.JobRow, urlTemplate string) *jobTrace {
	tp, ok := job.MetadataValue(kiln.MetadataTraceParent)
	if !ok {
		return nil
	}
	id, ok := traceID(tp)
	if !ok {
		return nil
	}
	t := &jobTrace{ID: id}
	if urlTemplate != "" {
		t.URL = strings.ReplaceAll(urlTemplate, traceIDPlaceholder, id)
	}
	return t
}

// traceID returns the trace ID of a W3C traceparent
// ("00-<32 hex trace ID>-<16 hex span ID>-<2 hex flags>"), and false if
// tp is not one or its trace ID is invalid (all zeros).
func traceID(tp string) (string, bool) {
	parts := strings.Split(strings.TrimSpace(tp), "-")
	if len(parts) < 4 || len(parts[0]) != 2 || len(parts[1]) != 32 || len(parts[2]) != 16 {
		return "", false
	}
	id := parts[1]
	if strings.Trim(id, "0") == "" || strings.Trim(id, "0123456789abcdef") != "" {
		return "", false
	}
	return id, true
}
