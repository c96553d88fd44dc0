package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// ServerUpsert records row as server row.ID's state, replacing its previous
// row, with the last migration of the Store's build, which holds back the
// contract migrations of later builds while the process runs (see
// Migrate), and row.StartedAt as schema_version_started_at: the gate
// counts the version only when it matches the row's started_at (see
// migrator.Older).
func (s *Store) ServerUpsert(ctx context.Context, params *store.ServerUpsertParams) error {
	row := params.Row
	queues, limits, err := store.ServerJSON(row)
	if err != nil {
		return fail("register server", err)
	}
	kinds := row.Kinds
	if kinds == nil {
		kinds = []string{}
	}
	kindsJSON, err := json.Marshal(kinds)
	if err != nil {
		return fail("register server", err)
	}
	last, err := s.migrations.Latest()
	if err != nil {
		return fail("register server", err)
	}
	err = s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kiln_server (id, host, pid, queues, kinds, started_at, heartbeat_at, limits,
	schema_version, schema_version_started_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?6)
ON CONFLICT (id) DO UPDATE SET host = ?2, pid = ?3, queues = ?4, kinds = ?5, started_at = ?6, heartbeat_at = ?7,
	limits = ?8, schema_version = ?9, schema_version_started_at = ?6`,
			row.ID, row.Host, row.PID, string(queues), string(kindsJSON), micros(row.StartedAt), micros(row.RefreshedAt),
			string(limits), last)
		return err
	})
	if err != nil {
		return fail("register server", err)
	}
	return nil
}

// ServerList returns every registered server, by ID. It reads from the
// reader pool.
func (s *Store) ServerList(ctx context.Context) ([]*kilntype.ServerRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, host, pid, queues, kinds, started_at, heartbeat_at, limits
FROM kiln_server ORDER BY id`)
	if err != nil {
		return nil, fail("list servers", err)
	}
	defer rows.Close()
	out := []*kilntype.ServerRow{}
	for rows.Next() {
		var (
			r                  kilntype.ServerRow
			queues, kinds      string
			limits             string
			started, refreshed int64
		)
		if err := rows.Scan(&r.ID, &r.Host, &r.PID, &queues, &kinds, &started, &refreshed, &limits); err != nil {
			return nil, fail("list servers", err)
		}
		if err := json.Unmarshal([]byte(queues), &r.Queues); err != nil {
			return nil, fail("list servers", fmt.Errorf("server %q: queues: %w", r.ID, err))
		}
		if err := json.Unmarshal([]byte(kinds), &r.Kinds); err != nil {
			return nil, fail("list servers", fmt.Errorf("server %q: kinds: %w", r.ID, err))
		}
		if err := json.Unmarshal([]byte(limits), &r.Limits); err != nil {
			return nil, fail("list servers", fmt.Errorf("server %q: limits: %w", r.ID, err))
		}
		r.StartedAt, r.RefreshedAt = fromMicros(started), fromMicros(refreshed)
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list servers", err)
	}
	return out, nil
}

// ServerDelete deletes server id's row.
func (s *Store) ServerDelete(ctx context.Context, params *store.ServerDeleteParams) error {
	id := params.ID
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM kiln_server WHERE id = ?`, id)
		return err
	})
	if err != nil {
		return fail("delete server", err)
	}
	return nil
}

// ServerDeleteStale deletes the servers whose RefreshedAt is before before,
// and returns their IDs.
func (s *Store) ServerDeleteStale(ctx context.Context, params *store.ServerDeleteStaleParams) ([]string, error) {
	before := params.Before
	ids := []string{}
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		ids = ids[:0]
		rows, err := tx.QueryContext(ctx, `DELETE FROM kiln_server WHERE heartbeat_at < ? RETURNING id`, micros(before))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fail("delete stale servers", err)
	}
	return ids, nil
}
