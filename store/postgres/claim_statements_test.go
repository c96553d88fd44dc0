package postgres

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// statementCounter is a pgx tracer that counts the statements a pool
// sends (n: each query, each query of a batch, BEGIN and COMMIT included)
// and its round trips (trips: each query, and each batch, whatever it
// holds).
type statementCounter struct{ n, trips atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	c.trips.Add(1)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.trips.Add(1)
	return ctx
}
func (c *statementCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	c.n.Add(1)
}
func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// TestClaimStatements counts the statements and round trips of a claim
// of 200 jobs of a kind spread over 1,000 partition keys (the burn-down's
// shape), with limits that do not bind, once the first claim of each is
// made (a rotation's first claim also visits the jobs without a key, one
// more round): claimed as usual, under a rate limit of the kind, by key in
// rotation (PartitionFair), under a per-key concurrency limit
// (PartitionMaxConcurrency) and under a per-key rate limit (with and
// without the kind's own). A claim by key without rate limits is one
// round trip, as the plain claim: its round is one statement, sent with
// its settings and the kind's lock in one batch (partitionRounds.Round).
// The counts are logged (go test -v) for docs/flow-control.md.
func TestClaimStatements(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at, partition_key)
SELECT k, 'q', '{}', 'available', 1, 1, $1, $1, CASE WHEN k <> 'plain' THEN (i % 1000)::text ELSE '' END
FROM generate_series(1, 1000) AS i, (VALUES ('fair'), ('cap'), ('key'), ('both'), ('plain')) AS v(k)`), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	counter := &statementCounter{}
	traced := tracedForTest(t, s, counter)
	free := kilntype.RateLimit{Limit: 1_000_000, Period: time.Second, Burst: 1000}
	for _, c := range []struct {
		name              string
		p                 *store.JobClaimParams
		statements, trips int64
	}{
		{"plain", &store.JobClaimParams{Kinds: []string{"plain"}}, 3, 1},
		{"rate per kind", &store.JobClaimParams{Kinds: []string{"plain"},
			RateLimits: map[string]kilntype.RateLimit{"plain": free}}, 5, 2},
		{"by key in rotation", &store.JobClaimParams{Kinds: []string{"fair"},
			Partitioned: map[string]store.PartitionClaim{"fair": {}}}, 2, 1},
		{"per-key limit", &store.JobClaimParams{Kinds: []string{"cap"},
			Partitioned: map[string]store.PartitionClaim{"cap": {MaxRunning: 1}}}, 2, 1},
		{"rate per key", &store.JobClaimParams{Kinds: []string{"key"},
			KeyRateLimits: map[string]kilntype.RateLimit{"key": free}}, 10, 4},
		{"rate per kind and per key", &store.JobClaimParams{Kinds: []string{"both"},
			RateLimits: map[string]kilntype.RateLimit{"both": free}, KeyRateLimits: map[string]kilntype.RateLimit{"both": free}}, 10, 4},
	} {
		p := c.p
		p.Queue, p.Max, p.LeasedBy, p.Now, p.LeaseExpiresAt = "q", 200, "proc", now, now.Add(time.Minute)
		var n, trips int64
		for range 2 { // the second claim: a rotation's cursor is past its start
			before, tripsBefore := counter.n.Load(), counter.trips.Load()
			jobs, err := traced.JobClaim(ctx, p)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if len(jobs) != 200 {
				t.Fatalf("%s: claimed %d jobs; want 200", c.name, len(jobs))
			}
			n, trips = counter.n.Load()-before, counter.trips.Load()-tripsBefore
		}
		t.Logf("%s: %d statements in %d round trips per claim of 200 jobs", c.name, n, trips)
		if n != c.statements || trips != c.trips {
			t.Errorf("%s: %d statements in %d round trips per claim of 200 jobs; want %d in %d",
				c.name, n, trips, c.statements, c.trips)
		}
	}
}
