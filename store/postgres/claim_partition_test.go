package postgres

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestPartitionCapAcrossPools checks that a per-key concurrency limit holds
// when three Stores, each with a pool of its own (three processes), claim
// by partition key at once: two claim in rounds of their own
// (partitionRounds, one transaction each), the third under a per-kind rate
// limit that does not bind, in one transaction (partitionSource under
// claimSerialized), and all take the same advisory lock of the kind.
// After each wave of concurrent claims no key has more than its limit of
// jobs running; some jobs are then deleted (their slots freed) and the
// waves go on until every job was claimed.
func TestPartitionCapAcrossPools(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := SchemaForTest(t)
	var stores []*Store
	for range 3 {
		stores = append(stores, OpenForTest(t, &Options{Schema: schema, MaxConns: 4, Migrate: true, CallerClock: true}))
	}
	const keys, perKey, limit = 40, 6, 2
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	if _, err := stores[0].pool.Exec(ctx, stores[0].expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at, partition_key)
SELECT 't', 'q', '{}', 'available', 1, 1, $1, $1, 'k' || (i % $2)
FROM generate_series(1, $3) AS i`), now.Add(-time.Hour), keys, keys*perKey); err != nil {
		t.Fatal(err)
	}
	params := func(rated bool) *store.JobClaimParams {
		p := &store.JobClaimParams{Queue: "q", Max: 15, Kinds: []string{"t"}, LeasedBy: "proc", Now: now,
			LeaseExpiresAt: now.Add(time.Minute), Partitioned: map[string]store.PartitionClaim{"t": {MaxRunning: limit}}}
		if rated {
			p.RateLimits = map[string]kilntype.RateLimit{"t": {Limit: 1_000_000, Period: time.Second, Burst: 1000}}
		}
		return p
	}
	claimedAll := 0
	for wave := 0; claimedAll < keys*perKey; wave++ {
		if wave > 200 {
			t.Fatalf("%d of %d jobs claimed after 200 waves", claimedAll, keys*perKey)
		}
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			claimed []int64
		)
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				jobs, err := stores[i%3].JobClaim(ctx, params(i%3 == 2))
				if err != nil {
					t.Errorf("JobClaim: %v", err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, j := range jobs {
					claimed = append(claimed, j.ID)
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		claimedAll += len(claimed)
		rows, err := stores[0].pool.Query(ctx, stores[0].expand(`SELECT partition_key, count(*) FROM {s}.kiln_job
WHERE state = 'running' GROUP BY 1 HAVING count(*) > $1`), limit)
		if err != nil {
			t.Fatal(err)
		}
		var (
			key  string
			n    int
			over []string
		)
		for rows.Next() {
			if err := rows.Scan(&key, &n); err != nil {
				t.Fatal(err)
			}
			over = append(over, fmt.Sprintf("%s: %d", key, n))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(over) > 0 {
			t.Fatalf("wave %d: keys over their limit of %d running jobs: %v", wave, limit, over)
		}
		// Free the slots of every other running job.
		if _, err := stores[0].pool.Exec(ctx, stores[0].expand(`DELETE FROM {s}.kiln_job
WHERE id IN (SELECT id FROM {s}.kiln_job WHERE state = 'running' AND id % 2 = $1)`), wave%2); err != nil {
			t.Fatal(err)
		}
	}
}

// TestClaimSerializedRollsBack checks that a claim under a rate limit
// whose last batch fails (the budgets' write, refused here by a trigger)
// rolls back: its jobs stay available and no budget is written, and the
// connection of the Store's pool (of one connection) does not serve the
// next claim inside the failed transaction: that claim commits, as seen
// from another connection.
func TestClaimSerializedRollsBack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := SchemaForTest(t)
	s := OpenForTest(t, &Options{Schema: schema, MaxConns: 1, Migrate: true, CallerClock: true})
	other := OpenForTest(t, &Options{Schema: schema, MaxConns: 1, CallerClock: true})
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	if _, err := other.pool.Exec(ctx, other.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at)
SELECT 't', 'q', '{}', 'available', 1, 1, $1, $1 FROM generate_series(1, 10)`), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := other.pool.Exec(ctx, other.expand(`CREATE FUNCTION {s}.refuse() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'refused'; END $$;
CREATE TRIGGER refuse BEFORE INSERT ON {s}.kiln_rate_limit_state FOR EACH ROW EXECUTE FUNCTION {s}.refuse()`)); err != nil {
		t.Fatal(err)
	}
	p := &store.JobClaimParams{Queue: "q", Max: 3, Kinds: []string{"t"}, LeasedBy: "proc", Now: now,
		LeaseExpiresAt: now.Add(time.Minute),
		RateLimits:     map[string]kilntype.RateLimit{"t": {Limit: 100, Period: time.Second, Burst: 100}}}
	if jobs, err := s.JobClaim(ctx, p); err == nil {
		t.Fatalf("claim with a refused budget write: %d jobs, no error", len(jobs))
	}
	count := func(sql string) int {
		t.Helper()
		var n int
		if err := other.pool.QueryRow(ctx, other.expand(sql)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM {s}.kiln_job WHERE state = 'available'`); n != 10 {
		t.Fatalf("after the failed claim %d jobs are available; want 10 (rolled back)", n)
	}
	p.RateLimits = nil
	jobs, err := s.JobClaim(ctx, p)
	if err != nil || len(jobs) != 3 {
		t.Fatalf("next claim: %d jobs, %v; want 3", len(jobs), err)
	}
	if n := count(`SELECT count(*) FROM {s}.kiln_job WHERE state = 'running'`); n != 3 {
		t.Fatalf("another connection sees %d jobs running after the next claim; want 3 (committed)", n)
	}
}

// TestClaimWritesRateBudget checks the budget that a claim under a rate
// limit that cannot bind writes in its own statement (claimBudget): 10
// jobs taken from a full budget of 100 per second (interval 10ms) leave
// its theoretical arrival time 100ms past the claim's time, as
// store.RateClaim.Taken computes it; the next claim at the same time may
// then take the 101 - 10 = 91 jobs left of the bucket, and no more.
func TestClaimWritesRateBudget(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at)
SELECT 't', 'q', '{}', 'available', 1, 1, $1, $1 FROM generate_series(1, 150)`), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	claim := func(max int) int {
		t.Helper()
		jobs, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: max, Kinds: []string{"t"}, LeasedBy: "proc",
			Now: now, LeaseExpiresAt: now.Add(time.Minute),
			RateLimits: map[string]kilntype.RateLimit{"t": {Limit: 100, Period: time.Second, Burst: 100}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(jobs)
	}
	if n := claim(10); n != 10 {
		t.Fatalf("first claim took %d jobs; want 10", n)
	}
	rows, err := s.RateLimitList(ctx, &store.RateLimitListParams{Kinds: []string{"t"}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var tat time.Time
	for _, r := range rows {
		if !r.PerKey {
			tat = r.TAT
		}
	}
	if want := now.Add(100 * time.Millisecond); !tat.Equal(want) {
		t.Fatalf("budget after 10 jobs: TAT %v; want %v (10 intervals of 10ms past the claim)", tat, want)
	}
	if n := claim(200); n != 91 {
		t.Fatalf("second claim took %d jobs; want the 91 left of the bucket", n)
	}
}
