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

// TestPartitionKeysCoverAvailableJobs runs a random workload of the
// store's moves of jobs with keys (inserts available, scheduled, pending
// and unique replacing ones; claims by key under a limit; finishes to
// every state; promotions of due jobs; cancels, retries, deletes;
// rescues; continuations released) and, as an older version or a hand
// would, UPDATEs that change an available job's queue, kind or key or
// move a job to available. After every step, kiln_job_partition_key
// (migration 028) must hold every queue, kind and key of an available job
// with a key, which a scan of kiln_job says; and a listing of all of a
// kind's keys must leave it holding exactly those of that kind's queue.
// It fails without either trigger of migration 028, without any column of
// the UPDATE trigger's list, and without the listing's deletion of the
// keys it found without available jobs; and without the INSERT of the key
// in migration 029's kiln_job_update, which took over 028's UPDATE trigger.
// With its seed it fails on each of those by step 105 (checked: without
// 028's INSERT trigger, 029's INSERT or the list's state at step 0, without
// the list's queue at 35, kind at 6, partition_key at 105, the deletion at
// 24), so it runs 1,000 steps; it ran 3,000 with a seed under which the
// list without partition_key failed only at step 1,338 (and seed 4 does not
// fail without kind in 3,000: a new seed needs the same check).
func TestPartitionKeysCoverAvailableJobs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	rng := rand.New(rand.NewPCG(5, 2026))
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	queues, kinds, keys := []string{"q1", "q2"}, []string{"k1", "k2"}, []string{"a", "b", "c", "d", "e", ""}
	pick := func(from []string) string { return from[rng.IntN(len(from))] }
	var ids []int64 // every job inserted
	missing := func() string {
		t.Helper()
		rows, err := s.w.QueryContext(ctx, `SELECT queue || '/' || kind || '/' || partition_key FROM (
	SELECT DISTINCT queue, kind, partition_key FROM kiln_job WHERE state = 'available' AND partition_key <> ''
	EXCEPT SELECT queue, kind, partition_key FROM kiln_job_partition_key)`)
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
		return strings.Join(out, " ")
	}
	extra := func(queue, kind string) string {
		t.Helper()
		var out string
		if err := s.w.QueryRowContext(ctx, `SELECT coalesce(group_concat(partition_key, ' '), '') FROM (
	SELECT partition_key FROM kiln_job_partition_key WHERE queue = ?1 AND kind = ?2
	EXCEPT SELECT partition_key FROM kiln_job WHERE state = 'available' AND queue = ?1 AND kind = ?2)`,
			queue, kind).Scan(&out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// list lists every key of queue and kind, as a claim's listing does
	// (deleting those without available jobs), and rolls back nothing.
	list := func(queue, kind string) {
		t.Helper()
		st, err := s.stmts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.partition.prepare(ctx, s.w, 8); err != nil {
			t.Fatal(err)
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		src := &partitionSource{tx: st.partition.bind(ctx, tx, st), p: &store.JobClaimParams{Queue: queue}, kind: kind}
		if _, _, err := src.KeysRunning(ctx, "", 1000, 1000, 1); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
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
		jobs, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: pick(queues), Max: 1 + rng.IntN(4), Kinds: []string{kind},
			Partitioned: map[string]store.PartitionClaim{kind: {MaxRunning: 1 + rng.IntN(2)}},
			LeasedBy:    "p", LeaseExpiresAt: now.Add(time.Minute), Now: now})
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
		{"a listing of every key", func() { list(pick(queues), pick(kinds)) }},
	}
	insert()
	for i := range 1000 {
		step := steps[rng.IntN(len(steps))]
		if len(ids) == 0 && step.name != "insert" {
			continue
		}
		step.run()
		if m := missing(); m != "" {
			t.Fatalf("step %d (%s): keys with available jobs missing from kiln_job_partition_key: %s", i, step.name, m)
		}
		if step.name == "a listing of every key" {
			for _, q := range queues {
				for _, k := range kinds {
					list(q, k)
					if e := extra(q, k); e != "" {
						t.Fatalf("step %d: after a listing of %s/%s, keys without available jobs left: %s", i, q, k, e)
					}
				}
			}
		}
	}
}

// isNotFoundOrState reports whether err is one that an admin move of a
// random job may return: the job is gone, running, or in a state that
// does not allow the move.
func isNotFoundOrState(err error) bool {
	return errors.Is(err, kilntype.ErrNotFound) || errors.Is(err, kilntype.ErrJobRunning) || errors.Is(err, kilntype.ErrJobState)
}
