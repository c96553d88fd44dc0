package postgres

import (
	"context"
	"slices"
	"sync"
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
type statementCounter struct {
	n, trips atomic.Int64
	mu       sync.Mutex
	sent     []string // the statements' texts, in order
}

func (c *statementCounter) record(sql string) {
	c.mu.Lock()
	c.sent = append(c.sent, sql)
	c.mu.Unlock()
}

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	c.trips.Add(1)
	c.record(d.SQL)
	return ctx
}
func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.trips.Add(1)
	return ctx
}
func (c *statementCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.n.Add(1)
	c.record(d.SQL)
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
// its settings and the kind's lock in one batch (partitionRounds.Round),
// and so is the claim under a rate limit of the kind (the plain claim
// with its budget's test and write: claimRateOneTrip; two round trips
// until 2026-12-06, five statements with a BEGIN and a COMMIT of their
// own until 2026-12-07, three since, as many as the plain claim's). A claim under a per-key limit takes its jobs in
// claim order (sqlPartitionInOrder, in the same batch as the round it
// replaces: the jobs at the front of the claim order are of keys with
// room).
// The counts are logged (go test -v) for docs/flow-control.md.
func TestClaimStatements(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at, partition_key)
SELECT k, 'q', '{}', 'available', 1, 1, $1, $1, CASE WHEN k <> 'plain' THEN (i % 1000)::text ELSE '' END
FROM generate_series(1, 1000) AS i, (VALUES ('fair'), ('cap'), ('cap2'), ('key'), ('both'), ('plain')) AS v(k)`), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	counter := &statementCounter{}
	traced := tracedForTest(t, s, counter)
	free := kilntype.RateLimit{Limit: 1_000_000, Period: time.Second, Burst: 1000}
	for _, c := range []struct {
		name              string
		p                 *store.JobClaimParams
		statements, trips int64
		sends             string // a statement the second claim sends
	}{
		{"plain", &store.JobClaimParams{Kinds: []string{"plain"}}, 3, 1, ""},
		{"rate per kind", &store.JobClaimParams{Kinds: []string{"plain"},
			RateLimits: map[string]kilntype.RateLimit{"plain": free}}, 3, 1, ""},
		{"by key in rotation", &store.JobClaimParams{Kinds: []string{"fair"},
			Partitioned: map[string]store.PartitionClaim{"fair": {}}}, 2, 1, ""},
		{"per-key limit", &store.JobClaimParams{Kinds: []string{"cap"},
			Partitioned: map[string]store.PartitionClaim{"cap": {MaxRunning: 1}}}, 2, 1, sqlPartitionInOrderOne},
		{"per-key limit of 2", &store.JobClaimParams{Kinds: []string{"cap2"},
			Partitioned: map[string]store.PartitionClaim{"cap2": {MaxRunning: 2}}}, 2, 1, sqlPartitionInOrder},
		{"rate per key", &store.JobClaimParams{Kinds: []string{"key"},
			KeyRateLimits: map[string]kilntype.RateLimit{"key": free}}, 10, 4, ""},
		{"rate per kind and per key", &store.JobClaimParams{Kinds: []string{"both"},
			RateLimits: map[string]kilntype.RateLimit{"both": free}, KeyRateLimits: map[string]kilntype.RateLimit{"both": free}}, 10, 4, ""},
		// The kinds listed in the plain claim's batch (claim.runPlainAny):
		// the settings, the listing, the prelude and the plain claim.
		{"any kind", &store.JobClaimParams{AnyKind: true}, 4, 1, ""},
	} {
		p := c.p
		p.Queue, p.Max, p.LeasedBy, p.Now, p.LeaseExpiresAt = "q", 200, "proc", now, now.Add(time.Minute)
		var (
			n, trips int64
			sent     []string
		)
		for range 2 { // the second claim: a rotation's cursor is past its start
			counter.mu.Lock()
			counter.sent = nil
			counter.mu.Unlock()
			before, tripsBefore := counter.n.Load(), counter.trips.Load()
			jobs, err := traced.JobClaim(ctx, p)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if len(jobs) != 200 {
				t.Fatalf("%s: claimed %d jobs; want 200", c.name, len(jobs))
			}
			n, trips = counter.n.Load()-before, counter.trips.Load()-tripsBefore
			counter.mu.Lock()
			sent = counter.sent
			counter.mu.Unlock()
		}
		if c.sends != "" && !slices.Contains(sent, s.sql(c.sends)) {
			t.Errorf("%s: the second claim did not send the statement wanted (%d statements sent)", c.name, len(sent))
		}
		t.Logf("%s: %d statements in %d round trips per claim of 200 jobs", c.name, n, trips)
		if n != c.statements || trips != c.trips {
			t.Errorf("%s: %d statements in %d round trips per claim of 200 jobs; want %d in %d",
				c.name, n, trips, c.statements, c.trips)
		}
	}
}

// TestClaimAnyKindRoundTrips checks the claims of any kind
// (claim.runPlainAny): one round trip while the number of kinds available
// stays the same, a second when it changed (whose claim takes jobs in
// claim order across every kind listed, the new one included), none of
// sqlClaim's statements when the queue is idle, and sqlClaim when a
// scheduled job is due.
func TestClaimAnyKindRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	counter := &statementCounter{}
	traced := tracedForTest(t, s, counter)
	insert := func(kind string, priority, n int, state string) {
		t.Helper()
		if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at)
SELECT $1, 'q', '{}', $4, $2, 1, $5, $5 FROM generate_series(1, $3)`), kind, priority, n, state, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(name string, max int, statements, trips int64) []*kilntype.JobRow {
		t.Helper()
		before, tripsBefore := counter.n.Load(), counter.trips.Load()
		jobs, err := traced.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: max, AnyKind: true, LeasedBy: "p",
			Now: now, LeaseExpiresAt: now.Add(time.Minute)})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		n, tr := counter.n.Load()-before, counter.trips.Load()-tripsBefore
		if statements >= 0 && (n != statements || tr != trips) {
			t.Errorf("%s: %d statements in %d round trips; want %d in %d", name, n, tr, statements, trips)
		}
		return jobs
	}
	kinds := func(jobs []*kilntype.JobRow) []string {
		out := []string{}
		for _, j := range jobs {
			out = append(out, j.Kind)
		}
		return out
	}

	// Idle: the listing and the prelude, nothing else, once the store
	// has seen the queue empty.
	claim("first idle", 10, 4, 1) // no listing seen yet: the plain claim for one kind
	if got := claim("idle", 10, 3, 1); len(got) != 0 {
		t.Fatalf("idle claim took %d jobs", len(got))
	}
	// One kind appears: a second round trip, then one.
	insert("b", 2, 10, "available")
	if got := claim("one kind appeared", 2, 3+3, 2); len(got) != 2 {
		t.Fatalf("claimed %d jobs, want 2", len(got))
	}
	if got := claim("one kind", 2, 4, 1); len(got) != 2 {
		t.Fatalf("claimed %d jobs, want 2", len(got))
	}
	// A kind of a higher priority appears: the plain claim for one kind
	// must not take b's jobs before it.
	insert("a", 1, 3, "available")
	if got := kinds(claim("a second kind appeared", 4, 4+3, 2)); !slices.Equal(got, []string{"a", "a", "a", "b"}) {
		t.Errorf("claimed kinds %v, want [a a a b]", got)
	}
	// a is gone: two kinds were listed last, one now.
	if got := kinds(claim("a kind went", 2, 4+3, 2)); !slices.Equal(got, []string{"b", "b"}) {
		t.Errorf("claimed kinds %v, want [b b]", got)
	}
	// A due scheduled job of a kind with no available job: sqlClaim takes
	// it (its settings and statement after the first batch).
	insert("c", 1, 1, "scheduled")
	if got := kinds(claim("due", 2, 4+2, 2)); !slices.Equal(got, []string{"c", "b"}) {
		t.Errorf("claimed kinds %v, want [c b]", got)
	}
	// The queue drains, then is idle again.
	for len(claim("drain", 10, -1, -1)) > 0 {
	}
	claim("idle again", 10, 3, 1)
}
