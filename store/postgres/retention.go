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

// sqlFinalizedKinds lists the kinds among the finalized jobs of state $1
// with a loose index scan of kiln_job_finalized_kind: one seek per kind
// and one more that finds none, whatever the number of jobs.
const sqlFinalizedKinds = `WITH RECURSIVE k AS (
	(SELECT kind FROM {s}.kiln_job WHERE state = $1 AND finalized_at IS NOT NULL ORDER BY kind LIMIT 1)
	UNION ALL
	SELECT (SELECT j.kind FROM {s}.kiln_job AS j
		WHERE j.state = $1 AND j.finalized_at IS NOT NULL AND j.kind > k.kind ORDER BY j.kind LIMIT 1)
	FROM k WHERE k.kind IS NOT NULL
)
SELECT kind FROM k WHERE kind IS NOT NULL`

// sqlLockGroup selects and locks (FOR UPDATE SKIP LOCKED) up to $6 jobs
// of state $1 and kind $2 finalized before $3, oldest first, whose queue
// is ($5 true) or is not ($5 false) in $4, read from the range of
// kiln_job_finalized_kind, leaving out those that a pending child waits
// on (so that they do not fill every page), with one probe of
// kiln_job_parent_parent per job (OFFSET 0 keeps the planner from making
// it a join that reads every parent row); the lock re-checks the state,
// kind and age of a job changed meanwhile, and skips the jobs that
// another transaction holds, notably the parents that an insert of
// continuations locked FOR KEY SHARE.
// sqlDeleteFinished deletes them then (see JobDeleteFinished).
const sqlLockGroup = `WITH doomed AS (
	SELECT id FROM {s}.kiln_job AS o
	WHERE state = $1 AND kind = $2 AND finalized_at < $3 AND (queue = ANY($4::text[])) = $5
		AND NOT EXISTS (SELECT 1 FROM {s}.kiln_job_parent AS d
			JOIN {s}.kiln_job AS c ON c.id = d.child_id
			WHERE d.parent_id = o.id AND c.state = 'pending' OFFSET 0)
	ORDER BY finalized_at LIMIT $6
)
SELECT id FROM {s}.kiln_job
WHERE id = ANY(ARRAY(SELECT id FROM doomed)) AND state = $1 AND kind = $2 AND finalized_at < $3
FOR UPDATE SKIP LOCKED`
