package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlServiceReport records the state of service $1 in process $2.
const sqlServiceReport = `INSERT INTO {s}.kiln_service (name, process_id, state, singleton, restarts,
	last_error, last_error_at, started_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (name, process_id) DO UPDATE SET state = excluded.state, singleton = excluded.singleton,
	restarts = excluded.restarts, last_error = excluded.last_error,
	last_error_at = excluded.last_error_at, started_at = excluded.started_at,
	updated_at = excluded.updated_at`

// sqlServiceList returns every report, by name then process ID.
const sqlServiceList = `SELECT name, process_id, state, singleton, restarts, last_error,
	last_error_at, started_at, updated_at FROM {s}.kiln_service ORDER BY name, process_id`

// sqlServiceDeleteStale deletes the reports not updated since $1.
const sqlServiceDeleteStale = `DELETE FROM {s}.kiln_service WHERE updated_at < $1`

// ServiceReport records row as the state of its service in its process,
// replacing that pair's previous report.
func (s *Store) ServiceReport(ctx context.Context, params *store.ServiceReportParams) error {
	row := params.Row
	_, err := s.pool.Exec(ctx, s.sql(sqlServiceReport), row.Name, row.ProcessID, row.State, row.Singleton,
		row.Restarts, store.CleanText(row.LastError), truncPtr(row.LastErrorAt), truncPtr(row.StartedAt), truncate(row.UpdatedAt))
	if err != nil {
		return fail("report service", err)
	}
	return nil
}

// ServiceList returns every service report, by name then process ID.
func (s *Store) ServiceList(ctx context.Context) ([]*kilntype.ServiceRow, error) {
	rows, err := s.pool.Query(ctx, s.sql(sqlServiceList))
	if err != nil {
		return nil, fail("list services", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*kilntype.ServiceRow, error) {
		var r kilntype.ServiceRow
		if err := row.Scan(&r.Name, &r.ProcessID, &r.State, &r.Singleton, &r.Restarts, &r.LastError,
			&r.LastErrorAt, &r.StartedAt, &r.UpdatedAt); err != nil {
			return nil, err
		}
		r.LastErrorAt, r.StartedAt, r.UpdatedAt = utcPtr(r.LastErrorAt), utcPtr(r.StartedAt), r.UpdatedAt.UTC()
		return &r, nil
	})
	if err != nil {
		return nil, fail("list services", err)
	}
	if out == nil {
		out = []*kilntype.ServiceRow{}
	}
	return out, nil
}

// ServiceDeleteStale deletes the reports not updated since before, and
// returns how many.
func (s *Store) ServiceDeleteStale(ctx context.Context, params *store.ServiceDeleteStaleParams) (int, error) {
	before := params.Before
	tag, err := s.pool.Exec(ctx, s.sql(sqlServiceDeleteStale), truncate(before))
	if err != nil {
		return 0, fail("delete stale services", err)
	}
	return int(tag.RowsAffected()), nil
}

// truncPtr is truncate for an optional time: nil stays nil.
func truncPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := truncate(*t)
	return &u
}
