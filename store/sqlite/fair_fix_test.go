package sqlite

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// fairClaimRate claims up to max jobs of kind k in queue q in fair order
// under a per-key limit of limit (0: none) and a per-key rate limit that
// no test reaches but through kiln_rate_limit_state.
func fairClaimRate(t *testing.T, s *Store, max, limit int) []*kilntype.JobRow {
	t.Helper()
	got, err := s.JobClaim(t.Context(), &store.JobClaimParams{Queue: "q", Kinds: []string{"k"}, Max: max, LeasedBy: "p",
		LeaseExpiresAt: fairNow.Add(time.Minute), Now: fairNow, Partitioned: map[string]store.PartitionClaim{"k": {MaxRunning: limit}},
		KeyRateLimits: map[string]kilntype.RateLimit{"k": {Limit: 100000, Period: time.Hour, Burst: 100000}}})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// fairParkA inserts 200 jobs each of keys a and b, alternating, and claims
// one at a time under a limit of 1 until b's jobs have run past a's first,
// which runs on: most of a's jobs the walks passed are parked. It returns
// a's running job and how many of a's jobs are parked.
func fairParkA(t *testing.T, s *Store) (aRunning int64, parked int) {
	t.Helper()
	keys := make([]string, 0, 400)
	for range 200 {
		keys = append(keys, "a", "b")
	}
	fairInsert(t, s, keys...)
	for range 100 {
		got := fairClaim(t, s, 1, 1)
		if len(got) != 1 {
			t.Fatalf("%d jobs claimed", len(got))
		}
		if got[0].Partition == "a" {
			aRunning = got[0].ID
			continue
		}
		fairFinish(t, s, got[0].ID)
	}
	if err := s.w.QueryRowContext(t.Context(), `SELECT count(*) FROM kiln_job WHERE partition_key = 'a' AND park_seq IS NOT NULL`).Scan(&parked); err != nil {
		t.Fatal(err)
	}
	if parked < 50 {
		t.Fatalf("%d of a's jobs parked, want most of those b ran past", parked)
	}
	return aRunning, parked
}

// TestFairParkedClaimedWithoutCap checks that the jobs that claims under a
// per-key cap parked are claimed once the kind is claimed in fair order
// without a cap: fair (MaxRunning 0), or under a per-key rate limit alone.
// Nothing but a claim under a cap gave parked jobs back (fairAfter), so
// they stayed available and unclaimed for good (review of fairlite and
// fairrate, 1.1: 95 jobs left); sqlFairUnparkAll gives them back before
// such a claim's walk.
func TestFairParkedClaimedWithoutCap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		claim func(t *testing.T, s *Store, max int) []*kilntype.JobRow
	}{
		{"fair", func(t *testing.T, s *Store, max int) []*kilntype.JobRow { return fairClaim(t, s, max, 0) }},
		{"rate limit", func(t *testing.T, s *Store, max int) []*kilntype.JobRow { return fairClaimRate(t, s, max, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openMigrated(t)
			aRunning, parked := fairParkA(t, s)
			fairFinish(t, s, aRunning)
			claimed := 0
			for range 100 {
				got := tc.claim(t, s, 10)
				if len(got) == 0 {
					break
				}
				for _, j := range got {
					fairFinish(t, s, j.ID)
				}
				claimed += len(got)
			}
			var left int
			if err := s.w.QueryRowContext(t.Context(), `SELECT count(*) FROM kiln_job WHERE state = 'available'`).Scan(&left); err != nil {
				t.Fatal(err)
			}
			if left > 0 {
				t.Errorf("%d jobs left available, never claimed (%d claimed without a cap; %d of a's were parked)", left, claimed, parked)
			}
		})
	}
}

// TestFairParkedKeyOrder checks that a key's jobs are claimed in the order
// they became available after some were parked, when the key has more room
// than entries left before its parked jobs: the limit raised (1 to 5
// here), so that a claim could take a's head and then its entries past the
// walks' reach, which were never parked, before the parked ones between
// (review, 1.4: a's jobs 3, 195, 197, ... while 5 to 193 were parked). The
// walk passes an entry with a parked job of its key before it
// (fairParkedBefore), and the claim gives the key's parked jobs back.
func TestFairParkedKeyOrder(t *testing.T) {
	s := openMigrated(t)
	aRunning, _ := fairParkA(t, s)
	fairFinish(t, s, aRunning)
	var prev int64
	for c := 0; c < 200; c++ {
		got := fairClaim(t, s, 10, 5)
		if len(got) == 0 {
			break
		}
		for _, j := range got {
			if j.Partition == "a" {
				if prev != 0 && j.ID != prev+2 { // a's jobs have every other ID
					t.Fatalf("claim %d: a's job %d claimed after its job %d, a's jobs between not yet", c, j.ID, prev)
				}
				prev = j.ID
			}
			fairFinish(t, s, j.ID)
		}
	}
	var left int
	if err := s.w.QueryRowContext(t.Context(), `SELECT count(*) FROM kiln_job WHERE state = 'available'`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left > 0 {
		t.Errorf("%d jobs left available", left)
	}
}

// fairFirstOf returns after how many claims of one job (each finished at
// once) by claim a job of key is claimed (0: not within max).
func fairFirstOf(t *testing.T, key string, max int, claim func() []*kilntype.JobRow, s *Store) int {
	t.Helper()
	for c := 1; c <= max; c++ {
		got := claim()
		if len(got) != 1 {
			t.Fatalf("claim %d: %d jobs", c, len(got))
		}
		fairFinish(t, s, got[0].ID)
		if got[0].Partition == key {
			return c
		}
	}
	return 0
}

// TestFairBoundBehindKeyAtLimit checks docs/flow-control.md's bound,
// ceil(E / M) claims for a key with due jobs and room (E = 2 keys with
// room here, M = 1 job per claim), when the front of the fair order is the
// head of a key at its limit: key s's first job runs on and its second
// stays at the front while key a's 300 jobs run, then key n arrives with
// 200. The virtual time was the front's tag, so n's jobs were tagged from
// there, below a's, and a waited for all of n's 200 (review, 1.2); it is
// the largest tag claimed (claim_seq, migration 038), level with a's.
func TestFairBoundBehindKeyAtLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		insert func(t *testing.T, s *Store, key string, n int)
	}{
		{"JobInsertMany", func(t *testing.T, s *Store, key string, n int) {
			keys := make([]string, n)
			for i := range keys {
				keys[i] = key
			}
			fairInsert(t, s, keys...)
		}},
		{"trigger", fairInsertOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fairBehindKeyAtLimit(t)
			tc.insert(t, s, "n", 200)
			if c := fairFirstOf(t, "a", 250, func() []*kilntype.JobRow { return fairClaim(t, s, 1, 1) }, s); c == 0 || c > 2 {
				t.Errorf("a (due jobs, room) claimed %d claims after n arrived (0: not within 250), want within ceil(E/M) = 2", c)
			}
		})
	}
}

// fairBehindKeyAtLimit returns a store where key s's first job runs on
// under a limit of 1 and its second is the front of the fair order, and
// 300 of key a's 500 jobs ran past it.
func fairBehindKeyAtLimit(t *testing.T) *Store {
	t.Helper()
	s := openMigrated(t)
	fairInsert(t, s, "s", "s")
	keys := make([]string, 0, 500)
	for range 500 {
		keys = append(keys, "a")
	}
	fairInsert(t, s, keys...)
	for c := 0; c < 300; c++ {
		got := fairClaim(t, s, 1, 1)
		if len(got) != 1 {
			t.Fatalf("claim %d: %d jobs", c, len(got))
		}
		if got[0].Partition != "s" { // s's first job runs on
			fairFinish(t, s, got[0].ID)
		}
	}
	return s
}

// fairInsertOther inserts n available jobs of key in queue q and kind k
// by another statement than JobInsertMany's (the insert trigger tags
// them: migration 035's kiln_job_fair_insert, the floor of 038).
func fairInsertOther(t *testing.T, s *Store, key string, n int) {
	t.Helper()
	if _, err := s.w.ExecContext(t.Context(), `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?3)
INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, partition_key)
SELECT 'k', 'q', '{}', 'available', 1, 1, ?1, ?1, ?2 FROM g`, micros(fairNow), key, n); err != nil {
		t.Fatal(err)
	}
}

// TestFairBoundBehindKeyOverBudget is TestFairBoundBehindKeyAtLimit with
// a key over its per-key rate budget (its theoretical arrival time a year
// ahead) at the front instead of one at its limit: a claim passes its
// entries and never parks them.
func TestFairBoundBehindKeyOverBudget(t *testing.T) {
	s := openMigrated(t)
	fairInsert(t, s, "s", "s")
	if _, err := s.w.ExecContext(t.Context(), `INSERT INTO kiln_rate_limit_state (kind, per_key, key, tat) VALUES ('k', 1, 's', ?)`,
		micros(fairNow.Add(365*24*time.Hour))); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, 500)
	for range 500 {
		keys = append(keys, "a")
	}
	fairInsert(t, s, keys...)
	for c := 0; c < 300; c++ {
		got := fairClaimRate(t, s, 1, 0)
		if len(got) != 1 || got[0].Partition != "a" {
			t.Fatalf("claim %d: %v, want one job of a", c, got)
		}
		fairFinish(t, s, got[0].ID)
	}
	keys = keys[:0]
	for range 200 {
		keys = append(keys, "n")
	}
	fairInsert(t, s, keys...)
	if c := fairFirstOf(t, "a", 250, func() []*kilntype.JobRow { return fairClaimRate(t, s, 1, 0) }, s); c == 0 || c > 2 {
		t.Errorf("a (due jobs, budget) claimed %d claims after n arrived (0: not within 250), want within ceil(E/M) = 2", c)
	}
}

// TestFairUniqueSkipKeepsTags checks that a job whose unique key is held
// (UniqueSkipped) takes no tag of its key: key a enqueues one unique job
// 100 times (1 inserted, 99 skipped), then a job without a unique key,
// which must be tagged next after a's first, level with b's jobs, not 100
// levels back (review, 1.3: tag 101 with the front at 1).
func TestFairUniqueSkipKeepsTags(t *testing.T) {
	s := openMigrated(t)
	fairInsert(t, s, "b", "b", "b", "b", "b")
	for range 100 {
		res, err := s.JobInsertMany(t.Context(), []*store.JobInsertParams{{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1,
			MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: fairNow, CreatedAt: fairNow, Partition: "a", UniqueKey: "u"}})
		if err != nil {
			t.Fatal(err)
		}
		if seq, _ := fairSeq(t, s, res[0].Job.ID); seq != 1 {
			t.Fatalf("a's unique job tagged %d, want 1", seq)
		}
	}
	fairInsert(t, s, "a")
	var last int64
	if err := s.w.QueryRowContext(t.Context(), `SELECT max(fair_seq) FROM kiln_job WHERE partition_key = 'a'`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	if last != 2 {
		t.Errorf("a's job after 99 skipped enqueues tagged %d, want 2", last)
	}
}
