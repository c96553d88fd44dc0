package sqlite

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestFairOrderCoversAvailableJobs runs a random workload of the store's
// moves of jobs with keys (inserts available, scheduled, pending and
// unique replacing ones; claims by key under a limit or a per-key rate
// limit; finishes to every state; promotions of due jobs; cancels,
// retries, deletes; rescues; continuations released) and, as an older
// version or a hand would, UPDATEs that change an available job's queue,
// kind or key or move a job to available. After every step, every
// available job with a key must have a tag (fair_seq, or park_seq when a
// claim parked it: migration 035), which a claim by key needs to see it at
// all (and the parked ones are given back by every claim path: after the
// workload, claims under each configuration of a kind, a cap, none, a
// per-key rate limit alone, or no claim by key, drain every available
// job, parked ones included: before sqlFairUnparkAll the two without a
// cap left the 55 parked jobs of the backlog); the schema is the contracted one (037, which recreates
// kiln_job_update without migration 028's table of keys). It fails
// without the tagging of 037's kiln_job_update (checked: at step 2). Every
// 50 steps and at the end, every available job must be in exactly one of
// kiln_job_claim_untagged and kiln_job_claim_fair (migration 039's
// predicate the complement of 035's; wantClaimOrderSplit). It was
// TestPartitionKeysCoverAvailableJobs, the same workload checking that
// kiln_job_partition_key (migration 028, dropped by 037) held every key of
// an available job, and that a listing deleted the keys without one.
func TestFairOrderCoversAvailableJobs(t *testing.T) {
	t.Parallel()
	for _, drain := range []coverDrain{
		{"a per-key cap", func(p *store.JobClaimParams, kind string) {
			p.Partitioned = map[string]store.PartitionClaim{kind: {MaxRunning: 1}}
		}},
		{"fair, no cap", func(p *store.JobClaimParams, kind string) {
			p.Partitioned = map[string]store.PartitionClaim{kind: {}}
		}},
		{"a per-key rate limit alone", func(p *store.JobClaimParams, kind string) {
			p.Partitioned = map[string]store.PartitionClaim{kind: {}}
			p.KeyRateLimits = map[string]kilntype.RateLimit{kind: {Limit: 1, Period: time.Minute, Burst: 1}}
		}},
		{"no claim by key", func(*store.JobClaimParams, string) {}},
	} {
		t.Run(drain.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := openMigrated(t)
			rng := rand.New(rand.NewPCG(5, 2026))
			now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
			queues, kinds, keys := []string{"q1", "q2"}, []string{"k1", "k2"}, []string{"a", "b", "c", "d", "e", ""}
			pick := func(from []string) string { return from[rng.IntN(len(from))] }
			var ids []int64 // every job inserted
			// untagged returns the available jobs with a key and no tag, as
			// "ID queue/kind/key".
			untagged := func() string {
				t.Helper()
				rows, err := s.w.QueryContext(ctx, `SELECT id || ' ' || queue || '/' || kind || '/' || partition_key FROM kiln_job
		WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NULL AND park_seq IS NULL`)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var out []string
				for rows.Next() {
					var k string
					if err := rows.Scan(&k); err != nil {
						t.Fatal(err)
					}
					out = append(out, k)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return strings.Join(out, ", ")
			}
			insert := func() {
				t.Helper()
				var params []*store.JobInsertParams
				for range 1 + rng.IntN(4) {
					p := &store.JobInsertParams{Kind: pick(kinds), Queue: pick(queues), Args: []byte(`{}`),
						Priority: 1 + rng.IntN(2), MaxAttempts: 3, State: kilntype.JobStateAvailable,
						ScheduledAt: now, CreatedAt: now, Partition: pick(keys)}
					switch rng.IntN(5) {
					case 0:
						p.State, p.ScheduledAt = kilntype.JobStateScheduled, now.Add(time.Duration(1+rng.IntN(3))*time.Minute)
					case 1:
						if len(ids) > 0 {
							p.State, p.ParentIDs = kilntype.JobStatePending, []int64{ids[rng.IntN(len(ids))]}
							p.ParentFailure = kilntype.ParentFailureRun
						}
					case 2:
						p.UniqueKey = fmt.Sprintf("u%d", rng.IntN(4))
						p.UniqueReplace = store.UniqueReplace{Args: true, Schedule: true}
						if rng.IntN(2) == 0 {
							p.State, p.ScheduledAt = kilntype.JobStateScheduled, now.Add(time.Minute)
						}
					}
					params = append(params, p)
				}
				res, err := s.JobInsertMany(ctx, params)
				if errors.Is(err, kilntype.ErrNotFound) { // a parent was deleted (its row is gone with the job)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range res {
					ids = append(ids, r.Job.ID)
				}
			}
			var running []*kilntype.JobRow
			claim := func() {
				t.Helper()
				kind := pick(kinds)
				p := &store.JobClaimParams{Queue: pick(queues), Max: 1 + rng.IntN(4), Kinds: []string{kind},
					Partitioned: map[string]store.PartitionClaim{kind: {MaxRunning: 1 + rng.IntN(2)}},
					LeasedBy:    "p", LeaseExpiresAt: now.Add(time.Minute), Now: now}
				if rng.IntN(2) == 0 {
					p.KeyRateLimits = map[string]kilntype.RateLimit{kind: {Limit: 1, Period: time.Minute, Burst: 1}}
				}
				jobs, err := s.JobClaim(ctx, p)
				if err != nil {
					t.Fatal(err)
				}
				running = append(running, jobs...)
			}
			finish := func() {
				t.Helper()
				if len(running) == 0 {
					return
				}
				i := rng.IntN(len(running))
				j := running[i]
				running = append(running[:i], running[i+1:]...)
				state := []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateAvailable, kilntype.JobStateRetryable,
					kilntype.JobStateScheduled, kilntype.JobStateDiscarded, kilntype.JobStateCancelled}[rng.IntN(6)]
				at := now
				if state == kilntype.JobStateRetryable || state == kilntype.JobStateScheduled {
					at = now.Add(time.Duration(rng.IntN(3)) * time.Minute)
				}
				if _, err := s.JobFinishMany(ctx, []*store.JobFinishParams{{ID: j.ID, LeasedBy: "p", State: state, ScheduledAt: at,
					Now: now, Attempt: kilntype.JobAttempt{Attempt: j.Attempt, StartedAt: now, Server: "p", Outcome: kilntype.AttemptSucceeded}}}); err != nil {
					t.Fatal(err)
				}
			}
			anyJob := func() int64 { return ids[rng.IntN(len(ids))] }
			steps := []struct {
				name string
				run  func()
			}{
				{"insert", insert},
				{"claim", claim},
				{"claim", claim},
				{"finish", finish},
				{"finish", finish},
				{"time passes and due jobs become available", func() {
					now = now.Add(time.Minute)
					if _, err := s.JobScheduleDue(ctx, &store.JobScheduleDueParams{Now: now, Max: 100}); err != nil {
						t.Fatal(err)
					}
				}},
				{"cancel", func() {
					if _, err := s.JobCancel(ctx, &store.JobCancelParams{ID: anyJob(), Now: now}); err != nil && !isNotFoundOrState(err) {
						t.Fatal(err)
					}
				}},
				{"retry", func() {
					if _, err := s.JobRetry(ctx, &store.JobRetryParams{ID: anyJob(), Now: now}); err != nil && !isNotFoundOrState(err) {
						t.Fatal(err)
					}
				}},
				{"delete", func() {
					i := rng.IntN(len(ids))
					if _, err := s.JobDelete(ctx, &store.JobDeleteParams{ID: ids[i]}); err != nil && !isNotFoundOrState(err) {
						t.Fatal(err)
					} else if err == nil {
						ids = append(ids[:i], ids[i+1:]...)
					}
				}},
				{"rescue", func() {
					if _, err := s.JobRescueExpired(ctx, &store.JobRescueExpiredParams{Now: now.Add(2 * time.Minute), Max: 100}); err != nil {
						t.Fatal(err)
					}
					running = running[:0]
				}},
				{"continuations released", func() {
					if _, err := s.JobResolvePending(ctx, &store.JobResolvePendingParams{Now: now, Max: 100}); err != nil {
						t.Fatal(err)
					}
				}},
				{"an UPDATE by hand of queue, kind or key", func() {
					col := []string{"queue", "kind", "partition_key"}[rng.IntN(3)]
					val := map[string][]string{"queue": queues, "kind": kinds, "partition_key": keys[:5]}[col]
					if _, err := s.w.ExecContext(ctx, `UPDATE kiln_job SET `+col+` = ?1 WHERE id = ?2`, pick(val), anyJob()); err != nil {
						t.Fatal(err)
					}
				}},
				{"an UPDATE by hand to available", func() {
					if _, err := s.w.ExecContext(ctx, `UPDATE kiln_job SET state = 'available', leased_by = NULL, lease_expires_at = NULL,
		finalized_at = NULL WHERE id = ?1 AND unique_key IS NULL
		AND state IN ('scheduled', 'retryable', 'completed', 'discarded', 'cancelled')`, anyJob()); err != nil {
						t.Fatal(err)
					}
				}},
			}
			insert()
			for i := range 1000 {
				step := steps[rng.IntN(len(steps))]
				if len(ids) == 0 && step.name != "insert" {
					continue
				}
				step.run()
				if m := untagged(); m != "" {
					t.Fatalf("step %d (%s): available jobs with a key without a tag: %s", i, step.name, m)
				}
				if i%50 == 0 {
					wantClaimOrderSplit(t, s)
				}
			}
			wantClaimOrderSplit(t, s)
			// Drain under the configuration of the subtest: every running job
			// finishes, time passes every schedule and budget, and claims of each
			// queue and kind (each job claimed finishes at once) must claim every
			// available job, the parked ones included, whatever the claims of the
			// workload parked under their caps.
			for _, j := range running {
				if _, err := s.JobFinishMany(ctx, []*store.JobFinishParams{{ID: j.ID, LeasedBy: "p", State: kilntype.JobStateCompleted,
					Now: now, Attempt: kilntype.JobAttempt{Attempt: j.Attempt, StartedAt: now, Server: "p", Outcome: kilntype.AttemptSucceeded}}}); err != nil &&
					!isNotFoundOrState(err) {
					t.Fatal(err)
				}
			}
			// Then a backlog of keys a and b in q1/k1 behind a's first job,
			// which runs on under a cap of 1 while b's run: claims park most
			// of a's jobs (the workload's backlogs are too short to).
			backlog := make([]*store.JobInsertParams, 0, 200)
			for i := range 200 {
				backlog = append(backlog, &store.JobInsertParams{Kind: "k1", Queue: "q1", Args: []byte(`{}`), Priority: 1,
					MaxAttempts: 3, State: kilntype.JobStateAvailable, ScheduledAt: now, CreatedAt: now, Partition: []string{"a", "b"}[i%2]})
			}
			if _, err := s.JobInsertMany(ctx, backlog); err != nil {
				t.Fatal(err)
			}
			var held int64
			for range 60 {
				jobs, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "q1", Max: 1, Kinds: []string{"k1"}, LeasedBy: "p",
					LeaseExpiresAt: now.Add(time.Minute), Now: now, Partitioned: map[string]store.PartitionClaim{"k1": {MaxRunning: 1}}})
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range jobs {
					if j.Partition == "a" && held == 0 {
						held = j.ID
						continue
					}
					if _, err := s.JobFinishMany(ctx, []*store.JobFinishParams{{ID: j.ID, LeasedBy: "p", State: kilntype.JobStateCompleted,
						Now: now, Attempt: kilntype.JobAttempt{Attempt: j.Attempt, StartedAt: now, Server: "p", Outcome: kilntype.AttemptSucceeded}}}); err != nil {
						t.Fatal(err)
					}
				}
			}
			var parked int
			if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM kiln_job WHERE state = 'available' AND park_seq IS NOT NULL`).Scan(&parked); err != nil {
				t.Fatal(err)
			}
			if parked < 10 {
				t.Fatalf("%d jobs parked before the drain, want the most of a's that b's ran past", parked)
			}
			if held != 0 {
				if _, err := s.JobFinishMany(ctx, []*store.JobFinishParams{{ID: held, LeasedBy: "p", State: kilntype.JobStateCompleted,
					Now: now, Attempt: kilntype.JobAttempt{Attempt: 1, StartedAt: now, Server: "p", Outcome: kilntype.AttemptSucceeded}}}); err != nil {
					t.Fatal(err)
				}
			}
			for empty := 0; empty < 2*fairSweepEvery; {
				now = now.Add(2 * time.Minute)
				if _, err := s.JobScheduleDue(ctx, &store.JobScheduleDueParams{Now: now, Max: 1000}); err != nil {
					t.Fatal(err)
				}
				claimed := 0
				for _, q := range queues {
					for _, kind := range kinds {
						p := &store.JobClaimParams{Queue: q, Max: 4, Kinds: []string{kind}, LeasedBy: "p",
							LeaseExpiresAt: now.Add(time.Minute), Now: now}
						drain.set(p, kind)
						jobs, err := s.JobClaim(ctx, p)
						if err != nil {
							t.Fatal(err)
						}
						for _, j := range jobs {
							if _, err := s.JobFinishMany(ctx, []*store.JobFinishParams{{ID: j.ID, LeasedBy: "p", State: kilntype.JobStateCompleted,
								Now: now, Attempt: kilntype.JobAttempt{Attempt: j.Attempt, StartedAt: now, Server: "p", Outcome: kilntype.AttemptSucceeded}}}); err != nil {
								t.Fatal(err)
							}
						}
						claimed += len(jobs)
					}
				}
				if claimed == 0 {
					empty++
				} else {
					empty = 0
				}
			}
			var left, leftParked int
			if err := s.w.QueryRowContext(ctx, `SELECT count(*), count(park_seq) FROM kiln_job WHERE state = 'available'`).Scan(&left, &leftParked); err != nil {
				t.Fatal(err)
			}
			if left > 0 {
				t.Errorf("drained under %s: %d jobs left available (%d of them parked; %d were parked before the drain)", drain.name, left, leftParked, parked)
			}
			t.Logf("%d jobs parked before the drain, drained under %s", parked, drain.name)
		})
	}
}

// coverDrain is a configuration of the claims that drain the jobs after
// TestFairOrderCoversAvailableJobs' workload.
type coverDrain struct {
	name string
	set  func(p *store.JobClaimParams, kind string)
}

// isNotFoundOrState reports whether err is one that an admin move of a
// random job may return: the job is gone, running, or in a state that
// does not allow the move.
func isNotFoundOrState(err error) bool {
	return errors.Is(err, kilntype.ErrNotFound) || errors.Is(err, kilntype.ErrJobRunning) || errors.Is(err, kilntype.ErrJobState)
}
