package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
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
// budget state, and each kind of the JSON array ?1 (both per_key), restricted
// to those kinds when ?1 is not NULL. tat is the latest of the kind's
// budgets (a per-key limit has one per key).
const sqlRateLimitList = `WITH ks(kind, per_key) AS (
	SELECT kind, per_key FROM kiln_rate_limit
	UNION SELECT kind, per_key FROM kiln_rate_limit_state
	UNION SELECT value, pk FROM json_each(coalesce(?1, '[]')), (SELECT 0 AS pk UNION ALL SELECT 1)
)
SELECT ks.kind, ks.per_key, o.limit_count, o.period_us, o.burst, o.updated_at,
	(SELECT max(tat) FROM kiln_rate_limit_state AS st WHERE st.kind = ks.kind AND st.per_key = ks.per_key)
FROM ks LEFT JOIN kiln_rate_limit AS o ON o.kind = ks.kind AND o.per_key = ks.per_key
WHERE ?1 IS NULL OR ks.kind IN (SELECT value FROM json_each(?1))
ORDER BY ks.kind, ks.per_key`

// sqlRateClaimRead returns (kind, per_key, limit_count, period_us, burst,
// tat) of each kind of the JSON array ?1 (per_key 0) and of the JSON
// array ?2 (per_key 1): its run-time limit and, for a kind's own budget,
// the budget's state, NULL where absent; for a per-key limit, the state
// of the budget of the key "" (the jobs without a key). Primary-key
// lookups only; the other keys' budgets are read as the claim walks the
// keys in fair order (sqlPartitionFairRate).
const sqlRateClaimRead = `WITH k(kind, per_key) AS (
	SELECT value, 0 FROM json_each(?1) UNION ALL SELECT value, 1 FROM json_each(?2)
)
SELECT k.kind, k.per_key, o.limit_count, o.period_us, o.burst, st.tat
FROM k
LEFT JOIN kiln_rate_limit AS o ON o.kind = k.kind AND o.per_key = k.per_key
LEFT JOIN kiln_rate_limit_state AS st ON st.kind = k.kind AND st.per_key = k.per_key AND st.key = ''`

// sqlRateClaimWrite sets the theoretical arrival time of each budget of
// the JSON array ?1, whose elements are [kind, per_key, key, tat]. (WHERE
// true lets SQLite parse the upsert after a SELECT.)
const sqlRateClaimWrite = `INSERT INTO kiln_rate_limit_state (kind, per_key, key, tat)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?1) WHERE true
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
		full := l.Bucket()
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

// rateStmts are the prepared statements of rate-limited claims
// (sqlRateClaimRead and sqlRateClaimWrite), prepared when a claim first
// needs them, like partitionStmts: a store whose schema predates
// migration 017 must still run everything else. Prepared once, a
// rate-limited claim's two extra statements cost their steps only (each
// was parsed and planned again on every claim).
type rateStmts struct {
	// mu guards read and write.
	mu          sync.Mutex
	read, write *sql.Stmt
}

// prepare prepares the statements on db if needed. Like stmts, it must
// not be called inside a writer transaction.
func (rs *rateStmts) prepare(ctx context.Context, db *sql.DB) error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, f := range []struct {
		stmt  **sql.Stmt
		query string
	}{{&rs.read, sqlRateClaimRead}, {&rs.write, sqlRateClaimWrite}} {
		if *f.stmt != nil {
			continue
		}
		s, err := db.PrepareContext(ctx, f.query)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		*f.stmt = s
	}
	return nil
}

// bound returns stmt (read or write, prepared by prepare) bound to tx.
func (rs *rateStmts) bound(ctx context.Context, tx *sql.Tx, stmt func(*rateStmts) *sql.Stmt) (*sql.Stmt, error) {
	rs.mu.Lock()
	s := stmt(rs)
	rs.mu.Unlock()
	if s == nil {
		return nil, errors.New("rate-limit statements not prepared")
	}
	return tx.StmtContext(ctx, s), nil
}

// close closes the statements prepared so far.
func (rs *rateStmts) close() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var errs []error
	for _, s := range []**sql.Stmt{&rs.read, &rs.write} {
		if *s != nil {
			errs = append(errs, (*s).Close())
			*s = nil
		}
	}
	return errors.Join(errs...)
}

// rateClaim reads, in the claim's transaction, the run-time limits and
// budget states of p's rate-limited kinds (per kind and per key) with
// rs.read, and returns the claim's rate part at p.Now (SQLite keeps
// budgets on the caller's clock).
func rateClaim(ctx context.Context, tx *sql.Tx, rs *rateStmts, p *store.JobClaimParams) (*store.RateClaim, error) {
	kinds, err := jsonStrings(p.RateLimitedKinds())
	if err != nil {
		return nil, err
	}
	keyKinds, err := jsonStrings(p.KeyRateLimitedKinds())
	if err != nil {
		return nil, err
	}
	read, err := rs.bound(ctx, tx, func(rs *rateStmts) *sql.Stmt { return rs.read })
	if err != nil {
		return nil, fmt.Errorf("read rate limits: %w", err)
	}
	rows, err := read.QueryContext(ctx, kinds, keyKinds)
	if err != nil {
		return nil, fmt.Errorf("read rate limits: %w", err)
	}
	defer rows.Close()
	var states []*store.RateLimitRow
	for rows.Next() {
		r := &store.RateLimitRow{}
		var count, period, burst, tat sql.NullInt64
		if err := rows.Scan(&r.Kind, &r.PerKey, &count, &period, &burst, &tat); err != nil {
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
	r := store.NewRateClaim(p, states, truncate(p.Now))
	for _, st := range states {
		if kb := r.KeyBudget(st.Kind); st.PerKey && kb != nil {
			kb.See("", st.TAT) // the budget of the jobs without a key
		}
	}
	return r, nil
}

// rateTaken writes, in the claim's transaction and with rs.write, the
// budgets of the rate-limited kinds of which the claim took jobs (no
// statement when it took none), and sets p.RateWait.
func rateTaken(ctx context.Context, tx *sql.Tx, rs *rateStmts, r *store.RateClaim, p *store.JobClaimParams,
	claimed []*kilntype.JobRow) error {
	writes := r.Taken(p, claimed)
	if len(writes) == 0 {
		return nil
	}
	b := make([]byte, 0, 2+len(writes)*48)
	b = append(b, '[')
	for i, w := range writes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = appendJSONString(b, w.Kind)
		if w.PerKey {
			b = append(b, ",1,"...)
		} else {
			b = append(b, ",0,"...)
		}
		b = appendJSONString(b, w.Key)
		b = append(b, ',')
		b = strconv.AppendInt(b, micros(w.TAT), 10)
		b = append(b, ']')
	}
	b = append(b, ']')
	write, err := rs.bound(ctx, tx, func(rs *rateStmts) *sql.Stmt { return rs.write })
	if err != nil {
		return fmt.Errorf("write rate budgets: %w", err)
	}
	if _, err := write.ExecContext(ctx, string(b)); err != nil {
		return fmt.Errorf("write rate budgets: %w", err)
	}
	return nil
}
