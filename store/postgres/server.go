package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlServerUpsert records server $1's row; $4 is the queues and $8 the
// limits as JSON text, $9 the last migration of this build (which the
// gate of contract migrations reads: migrator.Older), with the process's
// start time ($6) as schema_version_started_at, which tells the gate that
// this process wrote it (migration 031). heartbeat_at is $7, or, when $7
// is NULL, now(): the database's clock, which sqlServerDeleteStale reads
// too.
const sqlServerUpsert = `INSERT INTO {s}.kiln_server (id, host, pid, queues, kinds, started_at, heartbeat_at, limits, schema_version,
	schema_version_started_at)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, coalesce($7::timestamptz, now()), $8::jsonb, $9, $6)
ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, queues = excluded.queues,
	kinds = excluded.kinds, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
	limits = excluded.limits, schema_version = excluded.schema_version,
	schema_version_started_at = excluded.schema_version_started_at`

// sqlServerList returns every server, by ID.
const sqlServerList = `SELECT id, host, pid, queues, kinds, started_at, heartbeat_at, limits
FROM {s}.kiln_server ORDER BY id`

// sqlServerDelete deletes server $1.
const sqlServerDelete = `DELETE FROM {s}.kiln_server WHERE id = $1`

// sqlServerDeleteStale deletes the servers not refreshed since $1 (the
// column heartbeat_at holds ServerRow.RefreshedAt), or, when $1 is NULL,
// for longer than $2 microseconds by the database's clock.
const sqlServerDeleteStale = `DELETE FROM {s}.kiln_server
WHERE heartbeat_at < coalesce($1::timestamptz, now() - $2::bigint * interval '1 microsecond') RETURNING id`

// ServerUpsert records row as server row.ID's state, replacing its previous
// row, with the last migration of the Store's build, which holds back the
// contract migrations of later builds while the process runs (see
// Migrate), and row.StartedAt as schema_version_started_at: the gate
// counts the version only when it matches the row's started_at (see
// sqlServersOlder). The row's RefreshedAt is the database's now(), not
// row.RefreshedAt, unless Options.CallerClock: hosts' clocks need not agree
// for ServerDeleteStale to tell a live process from a dead one.
func (s *Store) ServerUpsert(ctx context.Context, params *store.ServerUpsertParams) error {
	row := params.Row
	kinds := row.Kinds
	if kinds == nil {
		kinds = []string{}
	}
	// The queues and limits go as JSON text, which every query exec mode
	// of pgx can send: exec and simple_protocol (behind PgBouncer) encode
	// a parameter by its Go type, and know none for []kilntype.ServerQueue.
	queues, limits, err := store.ServerJSON(row)
	if err != nil {
		return fail("register server", err)
	}
	last, err := s.migrations.Latest()
	if err != nil {
		return fail("register server", err)
	}
	_, err = s.pool.Exec(ctx, s.sql(sqlServerUpsert), row.ID, row.Host, row.PID, string(queues), kinds,
		truncate(row.StartedAt), s.callerTime(row.RefreshedAt), string(limits), last)
	if err != nil {
		return fail("register server", err)
	}
	return nil
}

// ServerList returns every registered server, by ID.
func (s *Store) ServerList(ctx context.Context) ([]*kilntype.ServerRow, error) {
	rows, err := s.pool.Query(ctx, s.sql(sqlServerList))
	if err != nil {
		return nil, fail("list servers", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*kilntype.ServerRow, error) {
		var r kilntype.ServerRow
		if err := row.Scan(&r.ID, &r.Host, &r.PID, &r.Queues, &r.Kinds, &r.StartedAt, &r.RefreshedAt, &r.Limits); err != nil {
			return nil, err
		}
		r.StartedAt, r.RefreshedAt = r.StartedAt.UTC(), r.RefreshedAt.UTC()
		if r.Limits == nil {
			r.Limits = []kilntype.KindLimits{}
		}
		return &r, nil
	})
	if err != nil {
		return nil, fail("list servers", err)
	}
	if out == nil {
		out = []*kilntype.ServerRow{}
	}
	return out, nil
}

// ServerDelete deletes server id's row.
func (s *Store) ServerDelete(ctx context.Context, params *store.ServerDeleteParams) error {
	id := params.ID
	if _, err := s.pool.Exec(ctx, s.sql(sqlServerDelete), id); err != nil {
		return fail("delete server", err)
	}
	return nil
}

// ServerDeleteStale deletes the servers not refreshed for longer than
// params.TTL by the database's clock (whose RefreshedAt is before
// params.Before with Options.CallerClock, or when TTL is 0), and returns
// their IDs.
func (s *Store) ServerDeleteStale(ctx context.Context, params *store.ServerDeleteStaleParams) ([]string, error) {
	before := s.callerTime(params.Before)
	if before == nil && params.TTL <= 0 {
		b := truncate(params.Before)
		before = &b
	}
	rows, err := s.pool.Query(ctx, s.sql(sqlServerDeleteStale), before, params.TTL.Microseconds())
	if err != nil {
		return nil, fail("delete stale servers", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fail("delete stale servers", err)
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}
