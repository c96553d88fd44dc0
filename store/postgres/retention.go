package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

var _ store.RetentionStore = (*Store)(nil)

const sqlRetentionList = `SELECT state, kind, queue, keep_us, updated_at FROM {s}.kiln_retention
ORDER BY state COLLATE "C", kind COLLATE "C", queue COLLATE "C"`

const sqlRetentionSet = `INSERT INTO {s}.kiln_retention (state, kind, queue, keep_us, updated_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (state, kind, queue) DO UPDATE SET keep_us = excluded.keep_us, updated_at = excluded.updated_at`

const sqlRetentionDelete = `DELETE FROM {s}.kiln_retention WHERE state = $1 AND kind = $2 AND queue = $3`

// RetentionList returns the stored retention rules by state, kind and
// queue (bytewise).
func (s *Store) RetentionList(ctx context.Context) ([]*kilntype.RetentionRule, error) {
	rows, err := s.pool.Query(ctx, s.sql(sqlRetentionList))
	if err != nil {
		return nil, fail("list retention rules", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*kilntype.RetentionRule, error) {
		var (
			r       kilntype.RetentionRule
			keep    *int64
			updated time.Time
		)
		if err := row.Scan(&r.State, &r.Kind, &r.Queue, &keep, &updated); err != nil {
			return nil, err
		}
		r.Keep = kilntype.KeepForever
		if keep != nil {
			r.Keep = time.Duration(*keep) * time.Microsecond
		}
		updated = updated.UTC()
		r.Source, r.UpdatedAt = "database", &updated
		return &r, nil
	})
	if err != nil {
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
	var keep *int64
	if !r.Forever() {
		us := r.Keep.Microseconds()
		keep = &us
	}
	if _, err := s.pool.Exec(ctx, s.sql(sqlRetentionSet), string(r.State), r.Kind, r.Queue, keep, truncate(params.Now)); err != nil {
		return fail("set retention rule", err)
	}
	return nil
}

// RetentionDelete deletes the rule of params' key.
func (s *Store) RetentionDelete(ctx context.Context, params *store.RetentionDeleteParams) (bool, error) {
	tag, err := s.pool.Exec(ctx, s.sql(sqlRetentionDelete), string(params.State), params.Kind, params.Queue)
	if err != nil {
		return false, fail("delete retention rule", err)
	}
	return tag.RowsAffected() > 0, nil
}
