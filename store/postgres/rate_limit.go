package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlRateLimitSet sets the run-time limit of kind $1 (per key: $2) to $3
// starts per $4 microseconds plus $5, at $6.
const sqlRateLimitSet = `INSERT INTO {s}.kiln_rate_limit (kind, per_key, limit_count, period_us, burst, updated_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (kind, per_key) DO UPDATE SET limit_count = excluded.limit_count,
	period_us = excluded.period_us, burst = excluded.burst, updated_at = excluded.updated_at`

// sqlRateLimitCut cuts the debt of kind $1's budgets (per key: $2) to $4
// microseconds past $3 (NULL: the database's clock).
const sqlRateLimitCut = `UPDATE {s}.kiln_rate_limit_state
SET tat = coalesce($3::timestamptz, statement_timestamp()) + $4::bigint * interval '1 microsecond'
WHERE kind = $1 AND per_key = $2
	AND tat > coalesce($3::timestamptz, statement_timestamp()) + $4::bigint * interval '1 microsecond'`

// sqlRateLimitList returns (kind, per_key, limit_count, period_us, burst,
// updated_at, tat, now) for each kind and per_key with a run-time limit or
// a budget state, and each kind of $1 (both per_key), restricted to those
// kinds when $1 is not NULL. tat is the latest of the kind's budgets (a
// per-key limit has one per key); now is $2, or the database's clock when
// $2 is NULL.
const sqlRateLimitList = `WITH ks(kind, per_key) AS (
	SELECT kind, per_key FROM {s}.kiln_rate_limit
	UNION SELECT kind, per_key FROM {s}.kiln_rate_limit_state
	UNION SELECT k, pk FROM unnest(coalesce($1::text[], '{}')) AS k CROSS JOIN (VALUES (false), (true)) AS b(pk)
)
SELECT ks.kind, ks.per_key, o.limit_count, o.period_us, o.burst, o.updated_at,
	(SELECT max(tat) FROM {s}.kiln_rate_limit_state AS st WHERE st.kind = ks.kind AND st.per_key = ks.per_key),
	coalesce($2::timestamptz, statement_timestamp())
FROM ks LEFT JOIN {s}.kiln_rate_limit AS o ON o.kind = ks.kind AND o.per_key = ks.per_key
WHERE $1::text[] IS NULL OR ks.kind = ANY($1::text[])
ORDER BY ks.kind COLLATE "C", ks.per_key`

// sqlRateClaimRead returns (kind, per_key, limit_count, period_us, burst,
// tat, now) of each kind $1[i] and per_key $2[i]: its run-time limit and,
// for a kind's own budget (per_key false), the budget's state, NULL where
// absent, and the time of the claim's budgets: $3, or, when $3 is NULL,
// the database's clock when the statement starts (after the claim's
// locks are held). Primary-key lookups only; the per-key budgets are read
// as the claim lists the keys (sqlPartitionKeyBudgets).
const sqlRateClaimRead = `SELECT k.kind, k.per_key, o.limit_count, o.period_us, o.burst, st.tat,
	coalesce($3::timestamptz, statement_timestamp())
FROM unnest($1::text[], $2::boolean[]) AS k(kind, per_key)
LEFT JOIN {s}.kiln_rate_limit AS o ON o.kind = k.kind AND o.per_key = k.per_key
LEFT JOIN {s}.kiln_rate_limit_state AS st ON st.kind = k.kind AND NOT k.per_key AND NOT st.per_key AND st.key = ''`

// sqlRateClaimWrite sets the theoretical arrival time of each budget
// ($1[i], $2[i], $3[i]): kind, per_key, key) to $4[i].
const sqlRateClaimWrite = `INSERT INTO {s}.kiln_rate_limit_state (kind, per_key, key, tat)
SELECT * FROM unnest($1::text[], $2::boolean[], $3::text[], $4::timestamptz[])
ON CONFLICT (kind, per_key, key) DO UPDATE SET tat = excluded.tat`

// RateLimitSet sets a run-time rate limit, as [store.RateLimitStore] says.
func (s *Store) RateLimitSet(ctx context.Context, params *store.RateLimitSetParams) error {
	if err := params.Validate(); err != nil {
		return fail("set rate limit", err)
	}
	l := params.Limit
	full := l.Bucket()
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.sql(sqlRateLimitSet), params.Kind, params.PerKey, l.Limit,
			l.Period.Microseconds(), l.Burst, truncate(params.Now)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, s.sql(sqlRateLimitCut), params.Kind, params.PerKey, s.callerTime(params.Now), full.Microseconds())
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
	tag, err := s.pool.Exec(ctx, s.sql(`DELETE FROM {s}.kiln_rate_limit WHERE kind = $1 AND per_key = $2`), kind, perKey)
	if err == nil && tag.RowsAffected() == 0 {
		err = kilntype.ErrNotFound
	}
	if err != nil {
		return fail("remove rate limit of "+kind, err)
	}
	return nil
}

// RateLimitList returns run-time rate limits and budget states, as
// [store.RateLimitStore] says; Now is the database's clock unless
// Options.CallerClock.
func (s *Store) RateLimitList(ctx context.Context, params *store.RateLimitListParams) ([]*store.RateLimitRow, error) {
	rows, err := s.pool.Query(ctx, s.sql(sqlRateLimitList), params.Kinds, s.callerTime(params.Now))
	if err != nil {
		return nil, fail("list rate limits", err)
	}
	out := []*store.RateLimitRow{}
	var (
		r            store.RateLimitRow
		count, burst *int32
		period       *int64
		tat          *time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&r.Kind, &r.PerKey, &count, &period, &burst, &r.UpdatedAt, &tat, &r.Now},
		func() error {
			row := r
			row.Override = rateLimitOf(count, period, burst)
			row.Now = row.Now.UTC()
			if row.UpdatedAt != nil {
				u := row.UpdatedAt.UTC()
				row.UpdatedAt = &u
			}
			if tat != nil {
				row.TAT = tat.UTC()
			}
			out = append(out, &row)
			return nil
		})
	if err != nil {
		return nil, fail("list rate limits", err)
	}
	return out, nil
}

// rateLimitOf returns the limit of a row's limit_count, period_us and
// burst; nil when they are NULL.
func rateLimitOf(count *int32, period *int64, burst *int32) *kilntype.RateLimit {
	if count == nil || period == nil || burst == nil {
		return nil
	}
	return &kilntype.RateLimit{Limit: int(*count), Period: time.Duration(*period) * time.Microsecond, Burst: int(*burst)}
}

// rateClaimArgs returns the arguments of sqlRateClaimRead for a claim of
// p: its rate-limited kinds, per kind and per key, and the time of its
// budgets (nil: the database's clock, unless Options.CallerClock).
func rateClaimArgs(s *Store, p *store.JobClaimParams) []any {
	kinds := p.RateLimitedKinds()
	perKey := make([]bool, len(kinds), len(kinds)+len(p.KeyRateLimits))
	for _, kind := range p.KeyRateLimitedKinds() {
		kinds, perKey = append(kinds, kind), append(perKey, true)
	}
	return []any{kinds, perKey, s.callerTime(p.Now)}
}

// scanRateClaim reads the rows of sqlRateClaimRead (read in the claim's
// transaction once it holds the kinds' advisory locks: see
// claimSerialized) and returns the claim's rate part at the time they
// give.
func scanRateClaim(rows pgx.Rows, p *store.JobClaimParams) (*store.RateClaim, error) {
	var (
		states       []*store.RateLimitRow
		now          time.Time
		kind         string
		isPerKey     bool
		count, burst *int32
		period       *int64
		tat          *time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&kind, &isPerKey, &count, &period, &burst, &tat, &now}, func() error {
		r := &store.RateLimitRow{Kind: kind, PerKey: isPerKey, Override: rateLimitOf(count, period, burst)}
		if tat != nil {
			r.TAT = tat.UTC()
		}
		states = append(states, r)
		return nil
	}); err != nil {
		return nil, err
	}
	return store.NewRateClaim(p, states, truncate(now)), nil
}

// rateWriteArgs returns the arguments of sqlRateClaimWrite for the
// budgets of the rate-limited kinds of which the claim took jobs, and
// sets p.RateWait; nil when no budget changes.
func rateWriteArgs(r *store.RateClaim, p *store.JobClaimParams, claimed []*kilntype.JobRow) []any {
	writes := r.Taken(p, claimed)
	if len(writes) == 0 {
		return nil
	}
	var (
		kinds, keys []string
		perKey      []bool
		tats        []time.Time
	)
	for _, w := range writes {
		kinds, perKey, keys, tats = append(kinds, w.Kind), append(perKey, w.PerKey), append(keys, w.Key), append(tats, w.TAT)
	}
	return []any{kinds, perKey, keys, tats}
}
