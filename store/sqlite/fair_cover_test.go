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
// all; the schema is the contracted one (037, which recreates
// kiln_job_update without migration 028's table of keys). It fails
// without the tagging of 037's kiln_job_update (checked: at step 2). It was
// TestPartitionKeysCoverAvailableJobs, the same workload checking that
// kiln_job_partition_key (migration 028, dropped by 037) held every key of
// an available job, and that a listing deleted the keys without one.
func TestFairOrderCoversAvailableJobs(t *testing.T) {
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
	}
}

// isNotFoundOrState reports whether err is one that an admin move of a
// random job may return: the job is gone, running, or in a state that
// does not allow the move.
func isNotFoundOrState(err error) bool {
	return errors.Is(err, kilntype.ErrNotFound) || errors.Is(err, kilntype.ErrJobRunning) || errors.Is(err, kilntype.ErrJobState)
}
