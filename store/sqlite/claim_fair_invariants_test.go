package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
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

// TestPartitionClaimInvariants claims at random from random backlogs
// under per-key limits of 1 to 3 (jobs without a key, two queues sharing
// keys, jobs not yet due, three priorities, a queue paused and resumed,
// running jobs finished between claims), claimed in fair order (with
// parking and the looks for jobs without a key), and checks after every
// claim: no job is claimed twice, no key runs more than the limit (across
// queues), and no claimed job with a key has a due available job of its
// key and queue before it in fair order (priority, then tag: a parked
// job's tag is its park_seq).
func TestPartitionClaimInvariants(t *testing.T) {
	t.Parallel()
	seeds := 20
	if raceEnabled { // 6 of them under -race; CI runs all 20 without it (.ci/run)
		seeds = 6
	}
	for seed := range seeds {
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
// available job of the same key, kind and queue before it in fair order.
func checkFirstOfKey(t *testing.T, s *Store, step int, id int64) {
	t.Helper()
	var before int
	if err := s.w.QueryRowContext(context.Background(), `SELECT count(*) FROM kiln_job AS j, kiln_job AS c
WHERE c.id = ?1 AND c.partition_key <> '' AND j.state = 'available' AND j.queue = c.queue AND j.kind = c.kind
	AND j.partition_key = c.partition_key AND j.scheduled_at <= ?2
	AND (j.priority, coalesce(j.fair_seq, j.park_seq), j.id) < (c.priority, c.fair_seq, c.id)`, id, micros(inOrderNow)).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if before > 0 {
		t.Errorf("step %d: job %d claimed with %d earlier due jobs of its key available", step, id, before)
	}
}
