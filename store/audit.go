package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kilnjobs/kiln/kilntype"
)

// AuditStore is the part of Store that keeps the audit log: the
// state-changing actions made through the dashboard, the HTTP API and the
// CLI, who made them and from where. The client records an entry right
// after each such action made in a context that carries an actor; the
// leader's cleaner deletes entries older than Config.AuditRetention.
type AuditStore interface {
	// AuditInsert stores params.Entry (its ID ignored) and returns the ID
	// given to it. Text fields go through CleanText and are cut to the
	// kilntype.MaxAudit*Bytes bounds; Detail must be a JSON object (or
	// nil) and at most kilntype.MaxAuditDetailBytes, else the call fails.
	AuditInsert(ctx context.Context, params *AuditInsertParams) (int64, error)
	// AuditList returns the entries matching params, newest (highest ID)
	// first, at most Limit of them, after the keyset Cursor.
	AuditList(ctx context.Context, params *AuditListParams) ([]*kilntype.AuditEntry, error)
	// AuditDeleteOld deletes up to params.Max entries recorded before
	// params.Before, oldest first, and returns how many.
	AuditDeleteOld(ctx context.Context, params *AuditDeleteOldParams) (int, error)
}

// AuditInsertParams is the entry AuditInsert stores.
type AuditInsertParams struct {
	Entry *kilntype.AuditEntry
}

// AuditListParams filters and pages AuditList. The zero value lists the
// newest DefaultAuditListLimit entries.
type AuditListParams struct {
	Actor  string    // exact match; empty means any
	Action string    // exact match; empty means any
	Since  time.Time // entries at or after it; zero means no bound
	Until  time.Time // entries before it; zero means no bound
	// Cursor is the ID of the last entry of the previous page; 0 starts
	// at the newest.
	Cursor int64
	Limit  int // 1 to MaxAuditListLimit; 0 means DefaultAuditListLimit
}

// DefaultAuditListLimit is the page size of AuditList when Limit is 0, and
// MaxAuditListLimit the largest allowed (larger values are cut to it).
const (
	DefaultAuditListLimit = 100
	MaxAuditListLimit     = 1000
)

// AuditLimit returns the page size AuditList uses for limit.
func AuditLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultAuditListLimit
	case limit > MaxAuditListLimit:
		return MaxAuditListLimit
	}
	return limit
}

// AuditDeleteOldParams selects old audit entries to delete.
type AuditDeleteOldParams struct {
	Before time.Time // entries recorded before it
	Max    int       // how many at most
}

// AuditClean returns e's fields as a store keeps them: text through
// CleanText and cut to the kilntype.MaxAudit*Bytes bounds, At in UTC
// truncated to the microsecond. It returns an error for a Detail that is
// not a JSON object or is over kilntype.MaxAuditDetailBytes. Backends call
// it in AuditInsert so that both keep the same.
func AuditClean(e *kilntype.AuditEntry) (kilntype.AuditEntry, error) {
	out := *e
	out.ID = 0
	out.At = out.At.UTC().Truncate(time.Microsecond)
	out.Actor = cutText(CleanText(out.Actor), kilntype.MaxAuditActorBytes)
	out.Role = cutText(CleanText(out.Role), kilntype.MaxAuditActorBytes)
	out.Action = cutText(CleanText(out.Action), kilntype.MaxAuditActionBytes)
	out.Target = cutText(CleanText(out.Target), kilntype.MaxAuditTargetBytes)
	out.Addr = cutText(CleanText(out.Addr), kilntype.MaxAuditAddrBytes)
	if len(out.Detail) == 0 {
		out.Detail = nil
		return out, nil
	}
	if len(out.Detail) > kilntype.MaxAuditDetailBytes {
		return out, &kilntype.ValidationError{Field: "detail",
			Message: fmt.Sprintf("%d bytes, over %d", len(out.Detail), kilntype.MaxAuditDetailBytes)}
	}
	if err := CheckJSON("detail", out.Detail); err != nil {
		return out, err
	}
	if t := bytes.TrimSpace(out.Detail); len(t) == 0 || t[0] != '{' {
		return out, &kilntype.ValidationError{Field: "detail", Message: "not a JSON object"}
	}
	return out, nil
}

// cutText returns s cut to at most n bytes, at a character boundary.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size > 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}

// AuditListQuery returns AuditList's statement for params, reading table
// (kiln_audit, qualified as the store needs), and its arguments: the
// filters, then the limit (AuditLimit). mark(n) is the store's placeholder
// of the n-th argument ("$n", "?n"), and at converts a time to the
// store's column value. Both stores build the same statement with it.
func AuditListQuery(params *AuditListParams, table string, mark func(n int) string, at func(time.Time) any) (string, []any) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+mark(len(args)))
	}
	if params.Cursor > 0 {
		add("id < ", params.Cursor)
	}
	if params.Actor != "" {
		add("actor = ", params.Actor)
	}
	if params.Action != "" {
		add("action = ", params.Action)
	}
	if !params.Since.IsZero() {
		add("at >= ", at(params.Since))
	}
	if !params.Until.IsZero() {
		add("at < ", at(params.Until))
	}
	q := `SELECT id, at, actor, role, action, target, detail, addr, refused FROM ` + table
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, AuditLimit(params.Limit))
	return q + " ORDER BY id DESC LIMIT " + mark(len(args)), args
}
