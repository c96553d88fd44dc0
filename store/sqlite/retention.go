package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

var _ store.RetentionStore = (*Store)(nil)

// RetentionList returns the stored retention rules by state, kind and
// queue, read from the reader pool.
func (s *Store) RetentionList(ctx context.Context) ([]*kilntype.RetentionRule, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, kind, queue, keep_us, updated_at FROM kiln_retention
ORDER BY state, kind, queue`)
	if err != nil {
		return nil, fail("list retention rules", err)
	}
	defer rows.Close()
	var out []*kilntype.RetentionRule
	for rows.Next() {
		var (
			r       kilntype.RetentionRule
			keep    sql.NullInt64
			updated int64
		)
		if err := rows.Scan(&r.State, &r.Kind, &r.Queue, &keep, &updated); err != nil {
			return nil, fail("list retention rules", err)
		}
		r.Keep = kilntype.KeepForever
		if keep.Valid {
			r.Keep = time.Duration(keep.Int64) * time.Microsecond
		}
		at := fromMicros(updated)
		r.Source, r.UpdatedAt = "database", &at
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list retention rules", err)
	}
	return out, nil
}

// RetentionSet stores params.Rule, replacing the rule of its key.
func (s *Store) RetentionSet(ctx context.Context, params *store.RetentionSetParams) error {
	r := params.Rule
	if err := r.Validate(); err != nil {
		return fail("set retention rule", err)
	}
	var keep any
	if !r.Forever() {
		keep = r.Keep.Microseconds()
	}
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO kiln_retention (state, kind, queue, keep_us, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (state, kind, queue) DO UPDATE SET keep_us = ?4, updated_at = ?5`,
			string(r.State), r.Kind, r.Queue, keep, micros(params.Now))
		return err
	})
	if err != nil {
		return fail("set retention rule", err)
	}
	return nil
}

// RetentionDelete deletes the rule of params' key.
func (s *Store) RetentionDelete(ctx context.Context, params *store.RetentionDeleteParams) (bool, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM kiln_retention WHERE state = ?1 AND kind = ?2 AND queue = ?3`,
			string(params.State), params.Kind, params.Queue)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fail("delete retention rule", err)
	}
	return n > 0, nil
}

// sqlFinalizedKinds lists the kinds among the finalized jobs of state ?1
// with a loose index scan of kiln_job_finalized_kind: one seek per kind
// and one more that finds none, whatever the number of jobs.
const sqlFinalizedKinds = `WITH RECURSIVE k(kind) AS (
	SELECT (SELECT kind FROM kiln_job INDEXED BY kiln_job_finalized_kind
		WHERE state = ?1 AND finalized_at IS NOT NULL ORDER BY kind LIMIT 1)
	UNION ALL
	SELECT (SELECT kind FROM kiln_job INDEXED BY kiln_job_finalized_kind
		WHERE state = ?1 AND finalized_at IS NOT NULL AND kind > k.kind ORDER BY kind LIMIT 1)
	FROM k WHERE k.kind IS NOT NULL
)
SELECT kind FROM k WHERE kind IS NOT NULL`

// sqlDeleteGroup deletes up to ?6 jobs of state ?1 and kind ?2 finalized
// before ?3 whose queue is (?5 = 1) or is not (?5 = 0) in the JSON array
// ?4, read in the range of kiln_job_finalized_kind, except those that a
// pending child waits on (its outcome decides the child's), oldest first
// (the order of the index range: no sort). Their attempts go with them (ON DELETE
// CASCADE).
const sqlDeleteGroup = `DELETE FROM kiln_job WHERE id IN (
	SELECT id FROM kiln_job AS old INDEXED BY kiln_job_finalized_kind
	WHERE state = ?1 AND kind = ?2 AND finalized_at < ?3
		AND (queue IN (SELECT value FROM json_each(?4))) = ?5
		AND NOT EXISTS (SELECT 1 FROM kiln_job_parent AS d JOIN kiln_job AS c ON c.id = d.child_id
			WHERE d.parent_id = old.id AND c.state = 'pending')
	ORDER BY finalized_at LIMIT ?6
)`

// finalizedKinds returns the kinds among the finalized jobs of state.
func (s *Store) finalizedKinds(ctx context.Context, state kilntype.JobState) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, sqlFinalizedKinds, string(state))
	if err != nil {
		return nil, fail("list kinds of finalized jobs", err)
	}
	defer rows.Close()
	var kinds []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fail("list kinds of finalized jobs", err)
		}
		kinds = append(kinds, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list kinds of finalized jobs", err)
	}
	return kinds, nil
}
