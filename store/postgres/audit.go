package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

var _ store.AuditStore = (*Store)(nil)

const sqlAuditInsert = `INSERT INTO {s}.kiln_audit (at, actor, role, action, target, detail, addr, refused)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`

// sqlAuditDeleteOld deletes up to $2 entries recorded before $1, oldest
// first (a range of kiln_audit_at).
const sqlAuditDeleteOld = `DELETE FROM {s}.kiln_audit WHERE id IN (
	SELECT id FROM {s}.kiln_audit WHERE at < $1 ORDER BY at LIMIT $2)`

// AuditInsert stores params.Entry and returns its ID.
func (s *Store) AuditInsert(ctx context.Context, params *store.AuditInsertParams) (int64, error) {
	e, err := store.AuditClean(params.Entry)
	if err != nil {
		return 0, fail("record audit entry", err)
	}
	var detail *string
	if e.Detail != nil {
		d := string(e.Detail)
		detail = &d
	}
	var id int64
	if err := s.pool.QueryRow(ctx, s.sql(sqlAuditInsert), e.At, e.Actor, e.Role, e.Action, e.Target, detail,
		e.Addr, e.Refused).Scan(&id); err != nil {
		return 0, fail("record audit entry", err)
	}
	return id, nil
}

// auditInTx inserts in tx the audit entry ctx asks for the change whose
// result is result (store.WithAudit), if any: called after the change,
// before the commit.
func (s *Store) auditInTx(ctx context.Context, tx pgx.Tx, result any) error {
	e, err := store.AuditEntryFor(ctx, result)
	if err != nil || e == nil {
		return err
	}
	var detail *string
	if e.Detail != nil {
		d := string(e.Detail)
		detail = &d
	}
	if _, err := tx.Exec(ctx, s.sql(sqlAuditInsert), e.At, e.Actor, e.Role, e.Action, e.Target, detail,
		e.Addr, e.Refused); err != nil {
		return fmt.Errorf("record audit entry: %w", err)
	}
	return nil
}

// AuditList returns the entries matching params, newest first.
func (s *Store) AuditList(ctx context.Context, params *store.AuditListParams) ([]*kilntype.AuditEntry, error) {
	q, args := store.AuditListQuery(params, "{s}.kiln_audit", func(n int) string { return "$" + strconv.Itoa(n) },
		func(t time.Time) any { return truncate(t) })
	rows, err := s.pool.Query(ctx, s.sql(q), args...)
	if err != nil {
		return nil, fail("list audit entries", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*kilntype.AuditEntry, error) {
		var (
			e      kilntype.AuditEntry
			at     time.Time
			detail *string
		)
		if err := row.Scan(&e.ID, &at, &e.Actor, &e.Role, &e.Action, &e.Target, &detail, &e.Addr, &e.Refused); err != nil {
			return nil, err
		}
		e.At = at.UTC()
		if detail != nil {
			e.Detail = []byte(*detail)
		}
		return &e, nil
	})
	if err != nil {
		return nil, fail("list audit entries", err)
	}
	if out == nil {
		out = []*kilntype.AuditEntry{}
	}
	return out, nil
}

// AuditDeleteOld deletes up to params.Max entries recorded before
// params.Before, oldest first.
func (s *Store) AuditDeleteOld(ctx context.Context, params *store.AuditDeleteOldParams) (int, error) {
	tag, err := s.pool.Exec(ctx, s.sql(sqlAuditDeleteOld), truncate(params.Before), params.Max)
	if err != nil {
		return 0, fail("delete old audit entries", err)
	}
	return int(tag.RowsAffected()), nil
}
