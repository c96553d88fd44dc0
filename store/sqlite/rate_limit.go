package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlRateLimitSet sets the run-time limit of kind ?1 (per key: ?2) to ?3
// starts per ?4 microseconds plus ?5, at ?6.
const sqlRateLimitSet = `INSERT INTO kiln_rate_limit (kind, per_key, limit_count, period_us, burst, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (kind, per_key) DO UPDATE SET limit_count = ?3, period_us = ?4, burst = ?5, updated_at = ?6`

// sqlRateLimitList returns (kind, per_key, limit_count, period_us, burst,
// updated_at, tat) for each kind and per_key with a run-time limit or a
// budget state, and each kind of the JSON array ?1 (per_key 0), restricted
// to those kinds when ?1 is not NULL. tat is the latest of the kind's
// budgets (a per-key limit has one per key).
const sqlRateLimitList = `WITH ks(kind, per_key) AS (
	SELECT kind, per_key FROM kiln_rate_limit
	UNION SELECT kind, per_key FROM kiln_rate_limit_state
	UNION SELECT value, 0 FROM json_each(coalesce(?1, '[]'))
)
SELECT ks.kind, ks.per_key, o.limit_count, o.period_us, o.burst, o.updated_at,
	(SELECT max(tat) FROM kiln_rate_limit_state AS st WHERE st.kind = ks.kind AND st.per_key = ks.per_key)
FROM ks LEFT JOIN kiln_rate_limit AS o ON o.kind = ks.kind AND o.per_key = ks.per_key
WHERE ?1 IS NULL OR ks.kind IN (SELECT value FROM json_each(?1))
ORDER BY ks.kind, ks.per_key`

// sqlRateClaimRead returns (kind, limit_count, period_us, burst, tat) of
// each kind of the JSON array ?1: its run-time limit and its budget's
// state, NULL where absent. Primary-key lookups only.
const sqlRateClaimRead = `SELECT k.value, o.limit_count, o.period_us, o.burst, st.tat
FROM json_each(?1) AS k
LEFT JOIN kiln_rate_limit AS o ON o.kind = k.value AND o.per_key = 0
LEFT JOIN kiln_rate_limit_state AS st ON st.kind = k.value AND st.per_key = 0 AND st.key = ''`

// sqlRateClaimWrite sets the theoretical arrival time of kind ?1's budget
// to ?2.
const sqlRateClaimWrite = `INSERT INTO kiln_rate_limit_state (kind, per_key, key, tat) VALUES (?1, 0, '', ?2)
ON CONFLICT (kind, per_key, key) DO UPDATE SET tat = excluded.tat`

// RateLimitSet sets a run-time rate limit, as [store.RateLimitStore] says.
func (s *Store) RateLimitSet(ctx context.Context, params *store.RateLimitSetParams) error {
	if err := params.Validate(); err != nil {
		return fail("set rate limit", err)
	}
	l := params.Limit
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		if _, err := tx.ExecContext(ctx, sqlRateLimitSet, params.Kind, params.PerKey, l.Limit,
			l.Period.Microseconds(), l.Burst, micros(params.Now)); err != nil {
			return err
		}
		full := time.Duration(l.Burst+1) * l.Interval()
		_, err := tx.ExecContext(ctx, `UPDATE kiln_rate_limit_state SET tat = ?3
WHERE kind = ?1 AND per_key = ?2 AND tat > ?3`, params.Kind, params.PerKey, micros(params.Now.Add(full)))
		return err
	})
	if err != nil {
		return fail("set rate limit of "+params.Kind, err)
	}
	return nil
}

// RateLimitDelete removes a run-time rate limit, as [store.RateLimitStore]
// says.
func (s *Store) RateLimitDelete(ctx context.Context, kind string, perKey bool) error {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM kiln_rate_limit WHERE kind = ?1 AND per_key = ?2`, kind, perKey)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err == nil && n == 0 {
		err = kilntype.ErrNotFound
	}
	if err != nil {
		return fail("remove rate limit of "+kind, err)
	}
	return nil
}

// RateLimitList returns run-time rate limits and budget states, as
// [store.RateLimitStore] says, read on a reader at params.Now.
func (s *Store) RateLimitList(ctx context.Context, params *store.RateLimitListParams) ([]*store.RateLimitRow, error) {
	kinds, err := jsonStrings(params.Kinds)
	if err != nil {
		return nil, fail("list rate limits", err)
	}
	rows, err := s.r.QueryContext(ctx, sqlRateLimitList, kinds)
	if err != nil {
		return nil, fail("list rate limits", err)
	}
	defer rows.Close()
	out := []*store.RateLimitRow{}
	now := truncate(params.Now)
	for rows.Next() {
		r := &store.RateLimitRow{Now: now}
		var (
			count, period, burst, updated, tat sql.NullInt64
		)
		if err := rows.Scan(&r.Kind, &r.PerKey, &count, &period, &burst, &updated, &tat); err != nil {
			return nil, fail("list rate limits", err)
		}
		r.Override = rateLimitOf(count, period, burst)
		r.UpdatedAt = fromNullMicros(updated)
		if tat.Valid {
			r.TAT = fromMicros(tat.Int64)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list rate limits", err)
	}
	return out, nil
}

// rateLimitOf returns the limit of a row's limit_count, period_us and
// burst; nil when they are NULL.
func rateLimitOf(count, period, burst sql.NullInt64) *kilntype.RateLimit {
	if !count.Valid {
		return nil
	}
	return &kilntype.RateLimit{Limit: int(count.Int64), Period: time.Duration(period.Int64) * time.Microsecond,
		Burst: int(burst.Int64)}
}

// rateClaim reads, in the claim's transaction, the run-time limits and
// budget states of p's rate-limited kinds and returns the claim's rate
// part at p.Now (SQLite keeps budgets on the caller's clock).
func rateClaim(ctx context.Context, tx *sql.Tx, p *store.JobClaimParams) (*store.RateClaim, error) {
	kinds, err := jsonStrings(p.RateLimitedKinds())
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, sqlRateClaimRead, kinds)
	if err != nil {
		return nil, fmt.Errorf("read rate limits: %w", err)
	}
	defer rows.Close()
	var states []*store.RateLimitRow
	for rows.Next() {
		r := &store.RateLimitRow{}
		var count, period, burst, tat sql.NullInt64
		if err := rows.Scan(&r.Kind, &count, &period, &burst, &tat); err != nil {
			return nil, fmt.Errorf("read rate limits: %w", err)
		}
		r.Override = rateLimitOf(count, period, burst)
		if tat.Valid {
			r.TAT = fromMicros(tat.Int64)
		}
		states = append(states, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rate limits: %w", err)
	}
	return store.NewRateClaim(p, states, truncate(p.Now)), nil
}

// rateTaken writes, in the claim's transaction, the budgets of the
// rate-limited kinds of which the claim took jobs, and sets p.RateWait.
func rateTaken(ctx context.Context, tx *sql.Tx, r *store.RateClaim, p *store.JobClaimParams, claimed []*kilntype.JobRow) error {
	kinds, tats := r.Taken(p, claimed)
	for i, kind := range kinds {
		if _, err := tx.ExecContext(ctx, sqlRateClaimWrite, kind, micros(tats[i])); err != nil {
			return fmt.Errorf("write rate budget of %s: %w", kind, err)
		}
	}
	return nil
}
