package postgres

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// TestRunningReads checks runningReads: a queue and kind reads up to its
// window until a read stops there (wide); the next runningWideSkip claims
// with a window no larger seek at once (bound 0) and change nothing however
// they end; the one after reads again. Meanwhile a claim with a larger
// window reads up to it, and one of those that comes back wide makes the
// claims up to its window seek. Other queues and kinds are not affected.
func TestRunningReads(t *testing.T) {
	t.Parallel()
	var r runningReads
	if got := r.bound("a", 80); got != 80 {
		t.Fatalf("first bound %d, want the window 80", got)
	}
	r.done("a", 80, false)
	if got := r.bound("a", 80); got != 80 {
		t.Fatalf("bound after a read that was not wide: %d, want 80", got)
	}
	r.done("a", 80, true)
	for i := range runningWideSkip {
		if got := r.bound("a", 80); got != 0 {
			t.Fatalf("claim %d after a wide read: bound %d, want 0", i+1, got)
		}
		r.done("a", 0, true) // a seek reports nothing new
		if got := r.bound("b", 64); got != 64 {
			t.Fatalf("another queue and kind: bound %d, want its window 64", got)
		}
		// A larger claim in between reads up to its window, and does not
		// count against the skips.
		if got := r.bound("a", 720); got != 720 {
			t.Fatalf("claim of window 720 after a wide read at 80: bound %d, want 720", got)
		}
		r.done("a", 720, false)
	}
	if got := r.bound("a", 80); got != 80 {
		t.Fatalf("bound %d claims after a wide read: %d, want 80", runningWideSkip+1, got)
	}
	r.done("a", 80, true)
	r.bound("a", 80) // one skip
	r.done("a", 0, false)
	// A larger window that comes back wide: claims up to it seek, the
	// count starting over; a larger one still reads.
	if got := r.bound("a", 400); got != 400 {
		t.Fatalf("claim of window 400 after a wide read at 80: bound %d, want 400", got)
	}
	r.done("a", 400, true)
	for i := range runningWideSkip {
		if got := r.bound("a", 80+320*(i%2)); got != 0 {
			t.Fatalf("claim %d after a wide read at 400: bound %d, want 0", i+1, got)
		}
		if got := r.bound("a", 720); got != 720 {
			t.Fatalf("claim of window 720 after a wide read at 400: bound %d, want 720", got)
		}
		r.done("a", 720, false)
	}
	if got := r.bound("a", 400); got != 400 {
		t.Fatalf("bound %d claims after a wide read at 400: %d, want 400", runningWideSkip+1, got)
	}
}

// insertKeyed inserts, for kind t of queue q, keys k0..k9 with available
// available jobs each and k0..k4 with one running job each (leased by
// "old"), and others running jobs of kind t with keys of their own (a1,
// a2, ...: before k0 in byte order, so that a read of the running keys
// that stops at its bound misses k0..k4) that have no available job, and
// as many of kind "other".
func insertKeyed(t *testing.T, s *Store, now time.Time, available, others int) {
	t.Helper()
	if _, err := s.pool.Exec(t.Context(), s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt,
	max_attempts, created_at, scheduled_at, attempted_at, leased_by, lease_expires_at, partition_key)
SELECT 't', 'q', '{}', v.state, 1, v.attempt, 3, $1::timestamptz - interval '1 hour', $1::timestamptz - interval '1 hour',
	CASE WHEN v.attempt > 0 THEN $1::timestamptz END, CASE WHEN v.attempt > 0 THEN 'old' END,
	CASE WHEN v.attempt > 0 THEN $1::timestamptz + interval '1 hour' END, 'k' || k
FROM generate_series(0, 9) AS k, generate_series(1, $2) AS a,
	(VALUES ('available', 0), ('running', 1)) AS v(state, attempt)
WHERE v.state = 'available' OR (k < 5 AND a = 1)`), now, available); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(t.Context(), s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt,
	max_attempts, created_at, scheduled_at, attempted_at, leased_by, lease_expires_at, partition_key)
SELECT k.kind, 'q', '{}', 'running', 1, 1, 3, $1, $1, $1, 'old', $1::timestamptz + interval '1 hour', 'a' || i
FROM generate_series(1, $2) AS i, (VALUES ('t'), ('other')) AS k(kind)`), now, others); err != nil {
		t.Fatal(err)
	}
}

// TestPartitionInOrderWide checks the in-order claim under a per-key limit
// (sqlPartitionInOrder) on both of its ways of finding a key's running
// jobs: with fewer running jobs of the kind than its window it reads them
// all once (not wide); with more it stops there and seeks each key's
// running jobs instead (wide), after which the Store's next claims of the
// queue and kind seek at once (runningReads). Running jobs of another kind
// are not read. Each way takes the same jobs: under a limit of 1, one of
// each key without a running job (k5..k9); under a limit of 2, one more of
// those and one of each key with one running (k0..k4).
func TestPartitionInOrderWide(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		others int
		wide   bool
	}{{"few running", 3, false}, {"many running", 150, true}} {
		for _, limit := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s/limit %d", tc.name, limit), func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				s := NewForTest(t)
				insertKeyed(t, s, now, 3, tc.others)
				c := s.newClaim(&store.JobClaimParams{Queue: "q", Max: 30, Kinds: []string{"t"}, LeasedBy: "new",
					Now: now, LeaseExpiresAt: now.Add(time.Minute)})
				p := &partitionRounds{partitionSource{s: s, q: s.pool, c: c, kind: "t"}}
				// 30 wanted (every available job) among a window of 80:
				// fewer than the 5 + 150 running jobs of the kind, more than
				// 5 + 3.
				jobs, err := p.InOrder(ctx, 30, 80, limit)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]int{}
				for _, j := range jobs {
					got[j.Partition]++
				}
				want := map[string]int{}
				for k := range 10 {
					switch {
					case k >= 5:
						want[fmt.Sprint("k", k)] = limit
					case limit > 1:
						want[fmt.Sprint("k", k)] = limit - 1
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("claimed per key %v, want %v", got, want)
				}
				key := "\x01in order\x00" + claimMarkKey("q", []string{"t"})
				skip := s.runningReads.skip[key].left
				if tc.wide && skip != runningWideSkip || !tc.wide && skip != 0 {
					t.Errorf("claims left that seek at once: %d (wide %v)", skip, tc.wide)
				}
				// k0's running job and k5's finish: the next claim (after a
				// wide one, a claim that seeks at once) takes, under a limit
				// of 1, one more of each; under 2, k0 two and k5 its last one.
				if _, err := s.pool.Exec(ctx, s.expand(`UPDATE {s}.kiln_job SET state = 'completed',
					finalized_at = $1, leased_by = NULL, lease_expires_at = NULL
					WHERE kind = 't' AND state = 'running' AND partition_key IN ('k0', 'k5')`), now); err != nil {
					t.Fatal(err)
				}
				jobs, err = p.InOrder(ctx, 30, 80, limit)
				if err != nil {
					t.Fatal(err)
				}
				keys := []string{}
				for _, j := range jobs {
					keys = append(keys, j.Partition)
				}
				sort.Strings(keys)
				wantKeys := "[k0 k5]"
				if limit > 1 {
					wantKeys = "[k0 k0 k5]"
				}
				if fmt.Sprint(keys) != wantKeys {
					t.Errorf("second claim took keys %v, want %s", keys, wantKeys)
				}
				wantSkip := 0
				if tc.wide {
					wantSkip = runningWideSkip - 1
				}
				if got := s.runningReads.skip[key].left; got != wantSkip {
					t.Errorf("claims left that seek at once after one: %d, want %d", got, wantSkip)
				}
			})
		}
	}
}

// TestPartitionInOrderUnkeyed checks that the in-order claim under a
// per-key limit takes every job without a key among those it reads, and
// of each key its first jobs up to its room: under a limit of 1
// (sqlPartitionInOrderOne, which keeps each key's first job by DISTINCT ON,
// each job without a key a group of its own) and of 2 (sqlPartitionInOrder).
func TestPartitionInOrderUnkeyed(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := NewForTest(t)
			// In claim order: '', k1, '', k1, k2, '', k1.
			if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	attempt, max_attempts, created_at, scheduled_at, partition_key)
SELECT 't', 'q', '{}', 'available', 1, 0, 3, $1::timestamptz - interval '1 hour',
	$1::timestamptz - interval '1 hour' + o * interval '1 second', k
FROM unnest(ARRAY['', 'k1', '', 'k1', 'k2', '', 'k1']) WITH ORDINALITY AS v(k, o)`), now); err != nil {
				t.Fatal(err)
			}
			c := s.newClaim(&store.JobClaimParams{Queue: "q", Max: 10, Kinds: []string{"t"}, LeasedBy: "new",
				Now: now, LeaseExpiresAt: now.Add(time.Minute)})
			p := &partitionRounds{partitionSource{s: s, q: s.pool, c: c, kind: "t"}}
			jobs, err := p.InOrder(ctx, 10, 64, limit)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, j := range jobs {
				got[j.Partition]++
			}
			want := map[string]int{"": 3, "k1": limit, "k2": 1}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("claimed per key %v, want %v", got, want)
			}
		})
	}
}
