package httpapi

import (
	"net/http"

	"github.com/kilnjobs/kiln"
)

// auditPage is the answer of GET /audit: a page of entries, newest first.
type auditPage struct {
	Entries []*kiln.AuditEntry `json:"entries"`
	// NextCursor is the cursor of the next (older) page; absent on the
	// last page.
	NextCursor int64 `json:"next_cursor,omitempty"`
}

// auditList is GET /audit?actor=&action=&since=&until=&cursor=&limit=:
// the audit log's entries matching the filters, newest first, keyset
// paginated by next_cursor.
func (a *api) auditList(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "actor", "action", "since", "until", "cursor", "limit")
	if err != nil {
		return err
	}
	p := &kiln.AuditListParams{Actor: q.Get("actor"), Action: q.Get("action")}
	if p.Since, err = parseTime("since", q.Get("since")); err != nil {
		return err
	}
	if p.Until, err = parseTime("until", q.Get("until")); err != nil {
		return err
	}
	if p.Cursor, err = intParam(q, "cursor", 0, 0, 1<<62); err != nil {
		return err
	}
	limit, err := intParam(q, "limit", kiln.DefaultAuditListLimit, 1, kiln.MaxAuditListLimit)
	if err != nil {
		return err
	}
	p.Limit = int(limit)
	entries, err := a.client.AuditList(r.Context(), p)
	if err != nil {
		return err
	}
	page := auditPage{Entries: nonNil(entries)}
	if len(entries) == p.Limit {
		page.NextCursor = entries[len(entries)-1].ID
	}
	return writeJSON(w, http.StatusOK, page)
}
