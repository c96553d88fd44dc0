package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// inOrderNow is the claims' time in the tests of this file.
var inOrderNow = time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)

// insertKeyed inserts an available job of kind "k" in queue q with key
// (priority 1 unless prio says otherwise) scheduled at at, and returns its ID.
func insertKeyed(t *testing.T, s *Store, q, key string, prio int, at time.Time) int64 {
	t.Helper()
	res, err := s.w.ExecContext(t.Context(), `INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, partition_key)
VALUES ('k', ?1, '{}', 'available', ?2, 1, ?3, ?4, ?5)`, q, prio, micros(inOrderNow.Add(-2*time.Hour)), micros(at), key)
	if err != nil {
		t.Fatal(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// claimKeyed claims up to max jobs of kind "k" from queue q under a
// per-key limit, and returns their IDs in the order claimed.
func claimKeyed(t *testing.T, s *Store, q string, max, limit int) []int64 {
	t.Helper()
	jobs, err := s.JobClaim(t.Context(), &store.JobClaimParams{Queue: q, Kinds: []string{"k"}, Max: max,
		Partitioned: map[string]store.PartitionClaim{"k": {MaxRunning: limit}},
		LeasedBy:    "p", LeaseExpiresAt: inOrderNow.Add(time.Minute), Now: inOrderNow})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

// TestPartitionClaimInOrderFirst checks that a claim under a per-key
// limit takes the kind's jobs in claim order (partitionSource.InOrder),
// up to each key's room, before it claims by key in rotation: key "z"'s
// three jobs are the oldest, "a"'s one the newest. In claim order a
// claim of 2 under a limit of 2 takes z's first two; the rotation, which
// starts from the first key in byte order and takes one job per key in
// its first round, would take a's and z's first.
func TestPartitionClaimInOrderFirst(t *testing.T) {
	t.Parallel()
	s := openMigrated(t)
	z1 := insertKeyed(t, s, "q", "z", 1, inOrderNow.Add(-time.Hour))
	z2 := insertKeyed(t, s, "q", "z", 1, inOrderNow.Add(-59*time.Minute))
	z3 := insertKeyed(t, s, "q", "z", 1, inOrderNow.Add(-58*time.Minute))
	a1 := insertKeyed(t, s, "q", "a", 1, inOrderNow.Add(-time.Minute))
	if got, want := claimKeyed(t, s, "q", 2, 2), []int64{z1, z2}; !slices.Equal(got, want) {
		t.Fatalf("first claim of 2 under a limit of 2: jobs %v, want z's first two %v", got, want)
	}
	// z is at its limit: the next claim passes over z3 and takes a1.
	if got, want := claimKeyed(t, s, "q", 2, 2), []int64{a1}; !slices.Equal(got, want) {
		t.Fatalf("second claim: jobs %v, want a's %v (z at its limit, z3 %d passed over)", got, want, z3)
	}
}

// TestPartitionClaimInvariants claims at random from random backlogs
// under per-key limits of 1 to 3 (jobs without a key, two queues sharing
// keys, jobs not yet due, three priorities, a queue paused and resumed,
// running jobs finished between claims), so that claims run both in
// claim order and by key in rotation, and checks after every claim: no
// job is claimed twice, no key runs more than the limit (across queues),
// and no claimed job with a key has a due available job of its key and
// queue before it in claim order.
func TestPartitionClaimInvariants(t *testing.T) {
	t.Parallel()
	for seed := range 20 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			r := rand.New(rand.NewPCG(uint64(seed), 7))
			s := openMigrated(t)
			limit, nkeys := 1+r.IntN(3), 1+r.IntN(40)
			for range 300 + r.IntN(600) {
				key := ""
				if r.IntN(5) > 0 {
					key = fmt.Sprint("k", r.IntN(nkeys))
				}
				q := "q"
				if r.IntN(4) == 0 {
					q = "q2"
				}
				due := inOrderNow.Add(-time.Duration(r.IntN(3600)) * time.Second)
				if r.IntN(10) == 0 {
					due = inOrderNow.Add(time.Hour)
				}
				insertKeyed(t, s, q, key, 1+r.IntN(3), due)
			}
			claimedEver := map[int64]bool{}
			for step := range 150 {
				q := "q"
				if r.IntN(3) == 0 {
					q = "q2"
				}
				for _, id := range claimKeyed(t, s, q, 1+r.IntN(40), limit) {
					if claimedEver[id] {
						t.Fatalf("step %d: job %d claimed twice", step, id)
					}
					claimedEver[id] = true
					checkFirstOfKey(t, s, step, id)
				}
				var over int
				if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT partition_key FROM kiln_job
WHERE state = 'running' AND partition_key <> '' GROUP BY partition_key HAVING count(*) > ?1)`, limit).Scan(&over); err != nil {
					t.Fatal(err)
				}
				if over > 0 {
					t.Fatalf("step %d: %d keys run more than the limit %d", step, over, limit)
				}
				if _, err := s.w.ExecContext(ctx, `UPDATE kiln_job SET state = 'completed', finalized_at = ?1
WHERE state = 'running' AND (id + ?2) % 3 = 0`, micros(inOrderNow), step); err != nil {
					t.Fatal(err)
				}
				if r.IntN(30) == 0 {
					if _, err := s.w.ExecContext(ctx, `INSERT INTO kiln_queue (name, paused, updated_at) VALUES ('q', 1, 0)
ON CONFLICT (name) DO UPDATE SET paused = 1 - paused`); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// checkFirstOfKey fails t if job id, just claimed, has a key and a due
// available job of the same key, kind and queue before it in claim order.
func checkFirstOfKey(t *testing.T, s *Store, step int, id int64) {
	t.Helper()
	var before int
	if err := s.w.QueryRowContext(context.Background(), `SELECT count(*) FROM kiln_job AS j, kiln_job AS c
WHERE c.id = ?1 AND c.partition_key <> '' AND j.state = 'available' AND j.queue = c.queue AND j.kind = c.kind
	AND j.partition_key = c.partition_key AND j.scheduled_at <= ?2
	AND (j.priority, j.scheduled_at, j.id) < (c.priority, c.scheduled_at, c.id)`, id, micros(inOrderNow)).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if before > 0 {
		t.Errorf("step %d: job %d claimed with %d earlier due jobs of its key available", step, id, before)
	}
}
