package dashboard

import (
	"net/http"
	"strconv"
	"time"

	"github.com/kilnjobs/kiln"
)

// auditPageSize is how many audit entries the Audit page shows at once.
const auditPageSize = 50

// auditFilter is the Audit page's filter form, as given.
type auditFilter struct {
	Actor, Action, Since, Until string
}

// auditData is the Audit page's data.
type auditData struct {
	Filter      auditFilter
	FilterError string
	Entries     []*kiln.AuditEntry
	Actions     []string // the client's actions, for the filter's list
	NextCursor  int64
}

// auditActions lists the actions the client records, for the filter.
var auditActions = []string{
	kiln.AuditJobEnqueue, kiln.AuditJobRetry, kiln.AuditJobCancel, kiln.AuditJobDelete,
	kiln.AuditQueuePause, kiln.AuditQueueResume,
	kiln.AuditRecurringUpsert, kiln.AuditRecurringPause, kiln.AuditRecurringResume,
	kiln.AuditRecurringTrigger, kiln.AuditRecurringRemove,
	kiln.AuditRetentionSet, kiln.AuditRetentionDelete,
	kiln.AuditBulkStart, kiln.AuditBulkCancel, kiln.AuditBulkResume, kiln.AuditRequestRefused,
}

// parseFormTime reads a time of the filter form: RFC 3339, or the
// browser's datetime-local ("2030-01-02T15:04", taken as UTC); "" is zero.
func parseFormTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// auditList serves the Audit page: the audit log, newest first, filtered
// by actor, action and time, 50 entries a page (keyset by ID).
func (h *handler) auditList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := &auditData{Filter: auditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Since: q.Get("since"), Until: q.Get("until")},
		Actions: auditActions}
	p := &kiln.AuditListParams{Actor: d.Filter.Actor, Action: d.Filter.Action, Limit: auditPageSize}
	var ok bool
	if p.Since, ok = parseFormTime(d.Filter.Since); !ok {
		d.FilterError = "Since: want a time such as 2030-01-02T15:04 (UTC)."
	}
	if p.Until, ok = parseFormTime(d.Filter.Until); !ok {
		d.FilterError = "Until: want a time such as 2030-01-02T15:04 (UTC)."
	}
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			d.FilterError = "The page cursor is not a number."
		}
		p.Cursor = n
	}
	if d.FilterError == "" {
		entries, err := h.client.AuditList(r.Context(), p)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		d.Entries = entries
		if len(entries) == auditPageSize {
			d.NextCursor = entries[len(entries)-1].ID
		}
	}
	status := http.StatusOK
	if d.FilterError != "" {
		status = http.StatusBadRequest
	}
	h.render(w, r, status, "audit", &page{Title: "Audit log", Nav: "audit", Data: d})
}
