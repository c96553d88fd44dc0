package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

var _ store.AuditStore = (*Store)(nil)

// AuditInsert stores params.Entry and returns its ID.
func (s *Store) AuditInsert(ctx context.Context, params *store.AuditInsertParams) (int64, error) {
	e, err := store.AuditClean(params.Entry)
	if err != nil {
		return 0, fail("record audit entry", err)
	}
	var id int64
	err = s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		id, err = insertAudit(ctx, tx, &e)
		return err
	})
	if err != nil {
		return 0, fail("record audit entry", err)
	}
	return id, nil
}

// insertAudit inserts e, cleaned (store.AuditClean), in tx and returns its
// ID.
func insertAudit(ctx context.Context, tx *sql.Tx, e *kilntype.AuditEntry) (int64, error) {
	var detail any
	if e.Detail != nil {
		detail = string(e.Detail)
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO kiln_audit (at, actor, role, action, target, detail, addr, refused)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id`,
		micros(e.At), e.Actor, e.Role, e.Action, e.Target, detail, e.Addr, e.Refused).Scan(&id)
	return id, err
}

// auditInTx inserts in tx the audit entry ctx asks for the change whose
// result is result (store.WithAudit), if any: called after the change,
// before the commit.
func auditInTx(ctx context.Context, tx *sql.Tx, result any) error {
	e, err := store.AuditEntryFor(ctx, result)
	if err != nil || e == nil {
		return err
	}
	if _, err := insertAudit(ctx, tx, e); err != nil {
		return fmt.Errorf("record audit entry: %w", err)
	}
	return nil
}

// AuditList returns the entries matching params, newest first, read from
// the reader pool.
func (s *Store) AuditList(ctx context.Context, params *store.AuditListParams) ([]*kilntype.AuditEntry, error) {
	q, args := store.AuditListQuery(params, "kiln_audit", func(n int) string { return "?" + strconv.Itoa(n) },
		func(t time.Time) any { return micros(t) })
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fail("list audit entries", err)
	}
	defer rows.Close()
	out := []*kilntype.AuditEntry{}
	for rows.Next() {
		var (
			e      kilntype.AuditEntry
			at     int64
			detail sql.NullString
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Role, &e.Action, &e.Target, &detail, &e.Addr, &e.Refused); err != nil {
			return nil, fail("list audit entries", err)
		}
		e.At = fromMicros(at)
		if detail.Valid {
			e.Detail = []byte(detail.String)
		}
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list audit entries", err)
	}
	return out, nil
}

// AuditDeleteOld deletes up to params.Max entries recorded before
// params.Before, oldest first, in one write transaction.
func (s *Store) AuditDeleteOld(ctx context.Context, params *store.AuditDeleteOldParams) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM kiln_audit WHERE id IN (
	SELECT id FROM kiln_audit WHERE at < ?1 ORDER BY at LIMIT ?2)`, micros(params.Before), params.Max)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fail("delete old audit entries", err)
	}
	return int(n), nil
}
