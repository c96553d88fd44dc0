package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// ServiceReport records row as the state of its service in its process.
func (s *Store) ServiceReport(ctx context.Context, params *store.ServiceReportParams) error {
	row := params.Row
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kiln_service (name, process_id, state, singleton, restarts,
	last_error, last_error_at, started_at, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (name, process_id) DO UPDATE SET state = ?3, singleton = ?4, restarts = ?5,
	last_error = ?6, last_error_at = ?7, started_at = ?8, updated_at = ?9`,
			row.Name, row.ProcessID, row.State, row.Singleton, row.Restarts, store.CleanText(row.LastError),
			nullMicros(row.LastErrorAt), nullMicros(row.StartedAt), micros(row.UpdatedAt))
		return err
	})
	if err != nil {
		return fail("report service", err)
	}
	return nil
}

// ServiceList returns every service report, by name then process ID. It
// reads from the reader pool.
func (s *Store) ServiceList(ctx context.Context) ([]*kilntype.ServiceRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, process_id, state, singleton, restarts, last_error,
	last_error_at, started_at, updated_at FROM kiln_service ORDER BY name, process_id`)
	if err != nil {
		return nil, fail("list services", err)
	}
	defer rows.Close()
	out := []*kilntype.ServiceRow{}
	for rows.Next() {
		var (
			r                  kilntype.ServiceRow
			lastErrAt, started sql.NullInt64
			updated            int64
		)
		if err := rows.Scan(&r.Name, &r.ProcessID, &r.State, &r.Singleton, &r.Restarts, &r.LastError,
			&lastErrAt, &started, &updated); err != nil {
			return nil, fail("list services", err)
		}
		r.LastErrorAt, r.StartedAt, r.UpdatedAt = nullTime(lastErrAt), nullTime(started), fromMicros(updated)
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list services", err)
	}
	return out, nil
}

// ServiceDeleteStale deletes reports not updated since before.
func (s *Store) ServiceDeleteStale(ctx context.Context, params *store.ServiceDeleteStaleParams) (int, error) {
	before := params.Before
	var n int64
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM kiln_service WHERE updated_at < ?`, micros(before))
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, fail("delete stale services", err)
	}
	return int(n), nil
}

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}
