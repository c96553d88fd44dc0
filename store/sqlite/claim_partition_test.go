package sqlite

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestPartitionClaimReadsPerJob checks that what a claim by partition
// key reads does not grow with the keys' backlogs: a claim from a queue
// where key "a" has 20,000 available jobs fetches about as many pages from
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
	for _, backlog := range []int{1_000, 20_000} {
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
		big, bigKeys := claim(tc.queue+"20000", tc.max, tc.limit)
		if len(smallKeys) != tc.keys || len(bigKeys) != tc.keys || smallKeys["a"] != bigKeys["a"] {
			t.Errorf("%s: jobs per key %v and %v, want %d keys each and as many of a", tc.queue, smallKeys, bigKeys, tc.keys)
		}
		if big > small+small/5 {
			t.Errorf("%s: the claim fetched %d pages with a backlog of 20,000 jobs of key a, %d with 1,000; want at most 20%% more",
				tc.queue, big, small)
		}
	}
}

// TestPartitionKeysRunning checks KeysRunning (sqlPartitionKeysListed):
// from the cursor, the keys with available jobs in byte order, each with
// its jobs running (of the kind, in any queue), up to the n-th key with
// room under the cap or scan keys, and end only once the keys ran out.
func TestPartitionKeysRunning(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	insert := func(queue, kind, state, key string, n int) {
		t.Helper()
		if _, err := s.w.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?2)
INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, partition_key)
SELECT ?5, ?4, '{}', ?6, 1, 1, ?1, ?1, ?3 FROM g`, micros(now), n, key, queue, kind, state); err != nil {
			t.Fatal(err)
		}
	}
	// Keys a to e wait in queue q; a runs 2 jobs (one in another queue),
	// c runs 1; d runs 1 of another kind; f only runs (no job waits).
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		insert("q", "k", "available", k, 3)
	}
	insert("q", "k", "running", "a", 1)
	insert("other", "k", "running", "a", 1)
	insert("q", "k", "running", "c", 1)
	insert("q", "other", "running", "d", 1)
	insert("q", "k", "running", "f", 1)
	insert("q", "k", "available", "", 2) // no key: never listed

	src, tx := partitionSourceForTest(t, s, "q", "k")
	defer tx.Rollback()
	for _, tc := range []struct {
		after               string
		n, scan, maxRunning int
		want                string
		end                 bool
	}{
		{"", 2, 1000, 1, "a:2 b:0 c:1 d:0", false}, // b and d have room
		{"", 1, 1000, 2, "a:2 b:0", false},
		{"", 1, 1000, 3, "a:2", false},
		{"", 10, 1000, 1, "a:2 b:0 c:1 d:0 e:0", true},
		{"", 10, 2, 1, "a:2 b:0", false}, // scan stops first
		{"", 10, 5, 1, "a:2 b:0 c:1 d:0 e:0", true},
		{"b", 1, 1000, 1, "c:1 d:0", false},
		{"d", 5, 1000, 1, "e:0", true},
		{"e", 5, 1000, 1, "", true},
	} {
		keys, end, err := src.KeysRunning(ctx, tc.after, tc.n, tc.scan, tc.maxRunning)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]string, len(keys))
		for i, k := range keys {
			got[i] = fmt.Sprintf("%s:%d", k.Key, k.Running)
		}
		if strings.Join(got, " ") != tc.want || end != tc.end {
			t.Errorf("KeysRunning(%q, n %d, scan %d, max %d) = %q, end %v; want %q, end %v",
				tc.after, tc.n, tc.scan, tc.maxRunning, strings.Join(got, " "), end, tc.want, tc.end)
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

// TestPartitionKeysRunningAllocs checks what listing keys costs the Go
// heap: KeysRunning of 100 keys steps one row per key
// (sqlPartitionKeysListed), which since it returns each key's first job
// holds what the take read by ID before: the driver's copy of each key's
// text and that copy as an interface value, the boxed ID and times, the
// job's arguments and the job itself, about 7.6 per key, 756 in all. The
// listing without the jobs made 240 and the take that read them by ID
// 1,394 more (TestPartitionTakeAllocs); before migration 028 the listing
// was one text (sqlKeyList) and made 42, at 10k more database
// instructions per claimed job (the recursive walk, docs/benchmarks.md,
// "SQLite per-key claims: a table of keys").
func TestPartitionKeysRunningAllocs(t *testing.T) {
	ctx := t.Context()
	s := openMigrated(t)
	insertKeys(t, s, 100)
	src, tx := partitionSourceForTest(t, s, "q", "k")
	defer tx.Rollback()
	var (
		keys []store.KeyRunning
		err  error
	)
	allocs := testing.AllocsPerRun(20, func() {
		if keys, _, err = src.KeysRunning(ctx, "", 100, 1000, 1); err != nil {
			t.Fatal(err)
		}
	})
	if last := src.firstJob[keys[len(keys)-1].Key]; len(keys) != 100 || last == nil || last.Partition != keys[99].Key {
		t.Fatalf("listed %d keys (last first job %v), want 100 with their first jobs", len(keys), last)
	}
	t.Logf("KeysRunning of 100 keys: %.0f allocations", allocs)
	if allocs > 800 {
		t.Errorf("KeysRunning of 100 keys made %.0f allocations, want at most 800", allocs)
	}
}

// insertKeys inserts into queue q one available job of kind k for each of
// n partition keys, key001 to key<n>.
func insertKeys(t *testing.T, s *Store, n int) {
	t.Helper()
	if _, err := s.w.ExecContext(t.Context(), `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?1)
INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, partition_key)
SELECT 'k', 'q', '{}', 'available', 1, 1, 0, 0, printf('key%03d', n) FROM g`, n); err != nil {
		t.Fatal(err)
	}
}

// TestPartitionTakeAllocs checks what a take of one job from each of 100
// listed keys costs the Go heap beyond listing them: the listing read each
// key's first job (sqlPartitionKeysListed), so the take reads nothing and
// allocates only the claim's slices, 27 allocations; with the listing,
// 836. Until the listing returned the jobs, the take read them by ID
// (sqlPartitionTakeIDs) and made 1,394 allocations beyond a listing of
// 240 (1,634 in all).
func TestPartitionTakeAllocs(t *testing.T) {
	ctx := t.Context()
	s := openMigrated(t)
	insertKeys(t, s, 100)
	st, err := s.stmts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.partition.prepare(ctx, s.w, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1, 0)
	params := &store.JobClaimParams{Queue: "q", LeasedBy: "p", Now: now, LeaseExpiresAt: now}
	keys, takes := make([]string, 0, 100), make([]int, 0, 100)
	var jobs []*kilntype.JobRow
	round := func() {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		src := &partitionSource{tx: st.partition.bind(ctx, tx, st), p: params, kind: "k"}
		listed, _, err := src.KeysRunning(ctx, "", 100, 1000, 1)
		if err != nil {
			t.Fatal(err)
		}
		keys, takes = keys[:0], takes[:0]
		for _, kr := range listed {
			keys, takes = append(keys, kr.Key), append(takes, 1)
		}
		if jobs, err = src.Take(ctx, keys, takes, 0, 64); err != nil {
			t.Fatal(err)
		}
	}
	listing := testing.AllocsPerRun(10, func() {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		src := &partitionSource{tx: st.partition.bind(ctx, tx, st), p: params, kind: "k"}
		if _, _, err := src.KeysRunning(ctx, "", 100, 1000, 1); err != nil {
			t.Fatal(err)
		}
	})
	both := testing.AllocsPerRun(10, round)
	if len(jobs) != 100 || jobs[0].Partition != "key001" || jobs[99].Partition != "key100" {
		t.Fatalf("took %d jobs (keys %q ... %q), want 100 of keys key001 to key100", len(jobs), jobs[0].Partition, jobs[len(jobs)-1].Partition)
	}
	take := both - listing
	t.Logf("a take of 100 jobs: %.0f allocations (%.0f with its listing)", take, both)
	if take > 100 {
		t.Errorf("a take of 100 jobs made %.0f allocations beyond its listing, want at most 100", take)
	}
	if both > 900 {
		t.Errorf("a listing and a take of 100 jobs made %.0f allocations, want at most 900", both)
	}
}

// TestClaimPartitionIndexStoresIDOnce checks the columns of
// kiln_job_claim_partition (migration 025): claim order within a key ends
// with the rowid, which is kiln_job.id and which SQLite appends to every
// entry, so the index does not name id as a column of its own (which
// stored each ID twice, and made the entries that a claim under a per-key
// limit removes from as many places of the index 9 % larger).
func TestClaimPartitionIndexStoresIDOnce(t *testing.T) {
	t.Parallel()
	s := openMigrated(t)
	cols := queryTexts(t, s.r, `SELECT coalesce(name, '<rowid>') FROM pragma_index_xinfo('kiln_job_claim_partition') ORDER BY seqno`)
	want := []string{"queue", "kind", "partition_key", "priority", "scheduled_at", "<rowid>"}
	if !slices.Equal(cols, want) {
		t.Errorf("columns of kiln_job_claim_partition's entries: %v, want %v", cols, want)
	}
}

// TestPartitionKeysDeadBounded: a listing walks at most scan keys without
// an available job (here 2,500 left by deleted jobs, which a bulk cancel
// or delete leaves behind), dropping them from kiln_job_partition_key in
// the claim's transaction and stopping there, so that a claim holds the
// write lock for a bounded walk; the listings after it go on past them to
// the key with a job, and a claim by key still takes it.
func TestPartitionKeysDeadBounded(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	if _, err := s.w.ExecContext(ctx, `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 2500)
INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, partition_key)
SELECT 'k', 'q', '{}', 'available', 1, 1, ?1, ?1, printf('dead-%05d', n) FROM g`, micros(now)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM kiln_job`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, partition_key)
VALUES ('k', 'q', '{}', 'available', 1, 1, ?1, ?1, 'live')`, micros(now)); err != nil {
		t.Fatal(err)
	}
	keysLeft := func() int {
		t.Helper()
		var n int
		if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM kiln_job_partition_key`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := keysLeft(); n != 2501 {
		t.Fatalf("%d keys listed in kiln_job_partition_key; want 2,501 (the test's premise: deletes leave them)", n)
	}
	src, tx := partitionSourceForTest(t, s, "q", "k")
	keys, end, err := src.KeysRunning(ctx, "", 10, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 || end {
		t.Fatalf("first listing: %v, end %v; want no key and not the end (it stops after 1,000 keys without a job)", keys, end)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := keysLeft(); n != 1501 {
		t.Fatalf("%d keys left after one listing; want 1,501 (1,000 dropped)", n)
	}
	claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Kinds: []string{"k"}, Max: 1, LeasedBy: "p",
		LeaseExpiresAt: now.Add(time.Minute), Now: now, Partitioned: map[string]store.PartitionClaim{"k": {MaxRunning: 1}}})
	if err != nil || len(claimed) != 1 || claimed[0].Partition != "live" {
		t.Fatalf("claim by key: %v, %v; want the job of key live", claimed, err)
	}
}

// partitionSourceForTest returns the partitionSource of kind's claims by
// key in queue, in a writer transaction of s that the caller ends.
func partitionSourceForTest(t *testing.T, s *Store, queue, kind string) (*partitionSource, *sql.Tx) {
	t.Helper()
	ctx := t.Context()
	st, err := s.stmts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.partition.prepare(ctx, s.w, 1); err != nil {
		t.Fatal(err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &partitionSource{tx: st.partition.bind(ctx, tx, st), p: &store.JobClaimParams{Queue: queue}, kind: kind}, tx
}
