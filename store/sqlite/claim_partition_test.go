package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// TestPartitionClaimReadsPerJob checks that what a claim by partition
// key reads does not grow with the keys' backlogs: a claim from a queue
// where key "a" has 20,000 available jobs (5,000 under -race) fetches about as many pages from
// the writer's page cache (sqlite3_db_status CACHE_HIT + CACHE_MISS, the
// whole claim: its transaction, the running count, the key listing, the
// take and the UPDATE) as the same claim from a queue where "a" has 1,000
// (both queues share the indexes, so their depth is the same). Two
// shapes: a claim of 50 under a limit of 1 per key from "a" and 59 keys
// of one job, and a fair claim (no cap) of 10 of keys "a" and "b" alone.
// Both are claims in fair order (migration 035): the keys' first jobs
// share the front tag level (a key's backlog holds one entry per level),
// so the walk reads the first levels of kiln_job_claim_fair, not "a"'s
// backlog. (Until migration 035 these were claims by key in rotation,
// whose takes this test bounded the same way.)
func TestPartitionClaimReadsPerJob(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	insert := func(queue, key string, n int) {
		t.Helper()
		if _, err := s.w.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?2)
INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, partition_key)
SELECT ?4, ?4, '{}', 'available', 1, 1, ?1, ?1, ?3 FROM g`, micros(now.Add(-time.Hour)), n, key, queue); err != nil {
			t.Fatal(err)
		}
	}
	// Under -race, where each tagged insert runs several times slower, a
	// backlog of 5,000 (5 times the small one) stands for 20,000.
	big := 20_000
	if raceEnabled {
		big = 5_000
	}
	for _, backlog := range []int{1_000, big} {
		q := fmt.Sprint(backlog)
		insert("many"+q, "a", backlog)
		for k := range 59 {
			insert("many"+q, fmt.Sprintf("k%02d", k), 1)
		}
		insert("two"+q, "a", backlog)
		insert("two"+q, "b", 10)
	}
	// claim claims max jobs of queue under limit, and returns how many
	// pages it fetched and its jobs per key. Each queue has a kind of its
	// own (named after it), since a per-key limit counts the kind's jobs
	// running in every queue.
	claim := func(queue string, max, limit int) (int, map[string]int) {
		t.Helper()
		params := &store.JobClaimParams{Queue: queue, Kinds: []string{queue}, Max: max,
			Partitioned: map[string]store.PartitionClaim{queue: {MaxRunning: limit}},
			LeasedBy:    "p", LeaseExpiresAt: now.Add(time.Minute), Now: now}
		// A first claim prepares the statements (which reads the schema):
		// it finds nothing in a queue of its own.
		warm := *params
		warm.Queue = "other"
		if _, err := s.JobClaim(ctx, &warm); err != nil {
			t.Fatal(err)
		}
		pagesFetched(t, s.w) // resets the counters
		claimed, err := s.JobClaim(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		pages := pagesFetched(t, s.w)
		perKey := map[string]int{}
		for _, j := range claimed {
			perKey[j.Partition]++
		}
		if len(claimed) != max {
			t.Errorf("queue %s: claimed %d jobs, want %d", queue, len(claimed), max)
		}
		t.Logf("queue %s: a claim of %d fetched %d pages", queue, max, pages)
		return pages, perKey
	}
	for _, tc := range []struct {
		queue      string
		max, limit int
		keys       int // keys claimed
	}{
		{"many", 50, 1, 50},
		{"two", 10, 0, 2},
	} {
		small, smallKeys := claim(tc.queue+"1000", tc.max, tc.limit)
		large, bigKeys := claim(tc.queue+fmt.Sprint(big), tc.max, tc.limit)
		if len(smallKeys) != tc.keys || len(bigKeys) != tc.keys || smallKeys["a"] != bigKeys["a"] {
			t.Errorf("%s: jobs per key %v and %v, want %d keys each and as many of a", tc.queue, smallKeys, bigKeys, tc.keys)
		}
		if large > small+small/5 {
			t.Errorf("%s: the claim fetched %d pages with a backlog of %d jobs of key a, %d with 1,000; want at most 20%% more",
				tc.queue, large, big, small)
		}
	}
}

// TestPartitionTakeFirstNotDue checks the take that reads the first job
// of each listed key by the ID its listing found (sqlPartitionTakeIDs):
// when that job, the key's first in claim order, is not due (an available
// job scheduled later, as a process with a clock ahead enqueues it), the
// key's first due job is taken instead, as a take by key takes it. Key a's
// first job by priority is due in an hour, its second is due; key b has
// one due job. A claim under a limit of 1 per key takes a's second job and
// b's, and leaves a's first.
func TestPartitionTakeFirstNotDue(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	now := inOrderNow
	insert := func(key string, priority int, due time.Time) int64 { return insertKeyed(t, s, "q", key, priority, due) }
	later := insert("a", 1, now.Add(time.Hour))
	a := insert("a", 2, now.Add(-time.Hour))
	b := insert("b", 1, now.Add(-time.Hour))
	claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Kinds: []string{"k"}, Max: 10,
		Partitioned: map[string]store.PartitionClaim{"k": {MaxRunning: 1}},
		LeasedBy:    "p", LeaseExpiresAt: now.Add(time.Minute), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range claimed {
		got = append(got, fmt.Sprintf("%d:%s", j.ID, j.Partition))
	}
	if want := []string{fmt.Sprintf("%d:b", b), fmt.Sprintf("%d:a", a)}; fmt.Sprint(got) != fmt.Sprint(want) { // claim order: b's priority first
		t.Errorf("claimed jobs %v, want %v (b's job and a's second; a's first, %d, is not due)", got, want, later)
	}
}
