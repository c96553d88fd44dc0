package postgres

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// statementCounter is a pgx tracer that counts the statements a pool
// sends: each query, each query of a batch, BEGIN and COMMIT included.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (c *statementCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	c.n.Add(1)
}
func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TestClaimStatementsPerKeyRateLimit counts the statements of a claim of
// 200 jobs of a kind spread over 1,000 partition keys (the burn-down's
// shape), with limits that do not bind, once the first claim of each is
// made (a rotation's first claim also visits the jobs without a key, one
// more round): claimed as usual, under a rate
// limit of the kind, by key in rotation (PartitionFair), and under a
// per-key rate limit (with and without the kind's own). The per-key
// limit adds to the rotation only its limits' read and its budgets'
// write, one statement each, however many keys the claim takes; the
// counts are logged (go test -v) for docs/flow-control.md.
func TestClaimStatementsPerKeyRateLimit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at, partition_key)
SELECT k, 'q', '{}', 'available', 1, 1, $1, $1, CASE WHEN k <> 'plain' THEN (i % 1000)::text ELSE '' END
FROM generate_series(1, 1000) AS i, (VALUES ('fair'), ('key'), ('both'), ('plain')) AS v(k)`), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(URLForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	counter := &statementCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	traced, err := New(pool, &Options{Schema: s.schema, CallerClock: true})
	if err != nil {
		t.Fatal(err)
	}
	free := kilntype.RateLimit{Limit: 1_000_000, Period: time.Second, Burst: 1000}
	count := func(name string, p *store.JobClaimParams) int64 {
		t.Helper()
		p.Queue, p.Max, p.LeasedBy, p.Now, p.LeaseExpiresAt = "q", 200, "proc", now, now.Add(time.Minute)
		var n int64
		for range 2 { // the second claim: a rotation's cursor is past its start
			before := counter.n.Load()
			jobs, err := traced.JobClaim(ctx, p)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if len(jobs) != 200 {
				t.Fatalf("%s: claimed %d jobs; want 200", name, len(jobs))
			}
			n = counter.n.Load() - before
		}
		t.Logf("%s: %d statements per claim of 200 jobs", name, n)
		return n
	}
	count("plain", &store.JobClaimParams{Kinds: []string{"plain"}})
	count("rate per kind", &store.JobClaimParams{Kinds: []string{"plain"},
		RateLimits: map[string]kilntype.RateLimit{"plain": free}})
	fair := count("by key in rotation", &store.JobClaimParams{Kinds: []string{"fair"},
		Partitioned: map[string]store.PartitionClaim{"fair": {}}})
	perKey := count("rate per key", &store.JobClaimParams{Kinds: []string{"key"},
		KeyRateLimits: map[string]kilntype.RateLimit{"key": free}})
	both := count("rate per kind and per key", &store.JobClaimParams{Kinds: []string{"both"},
		RateLimits: map[string]kilntype.RateLimit{"both": free}, KeyRateLimits: map[string]kilntype.RateLimit{"both": free}})
	if perKey > fair+2 || both > fair+2 {
		t.Fatalf("a claim under a per-key rate limit sent %d statements (%d with the kind's own); want at most %d, the rotation's and 2",
			perKey, both, fair+2)
	}
}
