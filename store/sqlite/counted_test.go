package sqlite

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestCountedMoves checks that kiln_job_count stays exact when inserts,
// claims and finishes count their own jobs (migrations 026 and 027) beside
// INSERTs and UPDATEs that the triggers count: an insert of a job whose
// unique key is taken, an older version's insert (by hand), claims of
// available and of due scheduled jobs, finishes
// to every state (a cancel request turning a retry into a cancel), a
// running job moved to another queue by hand before its finish, and an
// older version's claim (an UPDATE that leaves counted as it is). After
// each step the counters must equal a count of the jobs, and the finished
// counters the finishes made.
func TestCountedMoves(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	var params []*store.JobInsertParams
	for i := range 12 {
		st, at := kilntype.JobStateAvailable, now
		if i%4 == 3 {
			st, at = kilntype.JobStateScheduled, now.Add(-time.Second) // due
		}
		params = append(params, &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1,
			MaxAttempts: 5, State: st, ScheduledAt: at, CreatedAt: now})
	}
	if _, err := s.JobInsertMany(ctx, params); err != nil {
		t.Fatal(err)
	}
	check := func(step string, finished map[countedPair]int) {
		t.Helper()
		checkCounted(t, s, step, finished)
	}
	finished := map[countedPair]int{}
	check("insert", finished)

	// A job whose unique key is taken is not inserted, nor counted.
	unique := []*store.JobInsertParams{{Kind: "k", Queue: "u", Args: []byte(`{}`), Priority: 1, MaxAttempts: 5,
		State: kilntype.JobStateScheduled, ScheduledAt: now.Add(time.Hour), CreatedAt: now, UniqueKey: "x"}}
	for i := range 2 {
		res, err := s.JobInsertMany(ctx, unique)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].UniqueSkipped != (i == 1) {
			t.Fatalf("insert %d of a unique job: UniqueSkipped %v", i+1, res[0].UniqueSkipped)
		}
	}
	check("insert of a unique job, twice", finished)
	// An older version's insert: the trigger counts it.
	if _, err := s.w.ExecContext(ctx, `INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts,
		created_at, scheduled_at, tags, metadata, partition_key)
		VALUES ('k', 'old', '{}', 'available', 1, 5, ?1, ?1, '[]', '{}', '')`, micros(now)); err != nil {
		t.Fatal(err)
	}
	check("insert by an older version", finished)

	claim := &store.JobClaimParams{Queue: "q", Kinds: []string{"k"}, Max: 8, LeasedBy: "p",
		LeaseExpiresAt: now.Add(time.Minute), Now: now}
	claimed, err := s.JobClaim(ctx, claim)
	if err != nil {
		t.Fatal(err)
	}
	waiting := 0
	for _, j := range claimed {
		if j.ScheduledAt.Before(now) {
			waiting++
		}
	}
	if len(claimed) != 8 || waiting == 0 {
		t.Fatalf("claimed %d jobs, %d of them scheduled; want 8 with scheduled ones among them", len(claimed), waiting)
	}
	check("claim of available and scheduled jobs", finished)

	// An older version's claim: the trigger counts it.
	if _, err := s.w.ExecContext(ctx, `UPDATE kiln_job SET state = 'running', leased_by = 'old', attempt = attempt + 1,
		attempted_at = ?1 WHERE id = (SELECT min(id) FROM kiln_job WHERE state = 'available')`, micros(now)); err != nil {
		t.Fatal(err)
	}
	check("claim by an older version", finished)

	// A running job moved to another queue by hand, then finished there.
	if _, err := s.w.ExecContext(ctx, `UPDATE kiln_job SET queue = 'moved' WHERE id = ?`, claimed[0].ID); err != nil {
		t.Fatal(err)
	}
	check("move of a running job", finished)
	// A cancel request turns claimed[5]'s retry into a cancel.
	if _, err := s.JobCancel(ctx, &store.JobCancelParams{ID: claimed[5].ID, Now: now}); err != nil {
		t.Fatal(err)
	}
	states := []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateCompleted, kilntype.JobStateRetryable,
		kilntype.JobStateDiscarded, kilntype.JobStateScheduled, kilntype.JobStateRetryable, kilntype.JobStateAvailable,
		kilntype.JobStateCancelled}
	fin := make([]*store.JobFinishParams, len(claimed))
	for i, j := range claimed {
		fin[i] = &store.JobFinishParams{ID: j.ID, LeasedBy: "p", AttemptedAt: *j.AttemptedAt, State: states[i],
			ScheduledAt: now.Add(time.Hour), Now: now,
			Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: now, FinishedAt: &now,
				Server: "p", Outcome: kilntype.AttemptSucceeded}}
		queue, state := "q", string(states[i])
		if i == 0 {
			queue = "moved"
		}
		if i == 5 {
			state = "cancelled"
		}
		finished[countedPair{queue, state}]++
	}
	fin = append(fin, &store.JobFinishParams{ID: claimed[1].ID, LeasedBy: "other", State: kilntype.JobStateCompleted,
		Now: now}) // not leased by "other": not moved, not counted
	moved, err := s.JobFinishMany(ctx, fin)
	if err != nil {
		t.Fatal(err)
	}
	if len(moved) != len(claimed) {
		t.Fatalf("finish moved %d jobs, want %d", len(moved), len(claimed))
	}
	check("finish to every state", finished)

	// Claimed again after their retry or snooze: scheduled and retryable
	// jobs due now, counted by the trigger.
	claim.Now = now.Add(2 * time.Hour)
	claim.LeaseExpiresAt = claim.Now.Add(time.Minute)
	claim.Max = 100
	again, err := s.JobClaim(ctx, claim)
	if err != nil {
		t.Fatal(err)
	}
	check(fmt.Sprintf("second claim (%d jobs)", len(again)), finished)
}

// checkCounted checks that kiln_job_count's jobs equal a count of s's
// jobs by queue and state, and its finished counters finished (a pair
// absent from finished: none).
func checkCounted(t *testing.T, s *Store, step string, finished map[countedPair]int) {
	t.Helper()
	ctx := t.Context()
	rows, err := s.r.QueryContext(ctx, `SELECT coalesce(c.queue, j.queue), coalesce(c.state, j.state),
	coalesce(c.jobs, 0), coalesce(j.n, 0), coalesce(c.finished, 0)
FROM kiln_job_count AS c FULL JOIN (SELECT queue, state, count(*) AS n FROM kiln_job GROUP BY queue, state) AS j
	ON j.queue = c.queue AND j.state = c.state`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[countedPair]bool{}
	for rows.Next() {
		var pair countedPair
		var jobs, n, fin int
		if err := rows.Scan(&pair.queue, &pair.state, &jobs, &n, &fin); err != nil {
			t.Fatal(err)
		}
		seen[pair] = true
		if jobs != n {
			t.Errorf("%s: kiln_job_count says %d jobs %s in %s, the table holds %d", step, jobs, pair.state, pair.queue, n)
		}
		if fin != finished[pair] {
			t.Errorf("%s: %d attempts finished %s in %s, want %d", step, fin, pair.state, pair.queue, finished[pair])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for pair, n := range finished {
		if !seen[pair] && n != 0 {
			t.Errorf("%s: no counter of %s in %s, want %d finished", step, pair.state, pair.queue, n)
		}
	}
}

// TestCountedMovesByKey checks that claims by partition key count their
// own moves (migration 026's flip of counted, one UPSERT per queue and
// state a claim moved jobs between) and that kiln_job_count stays exact:
// claims under a per-key limit that take each key's first job (one per key,
// the first rotation), several jobs of a key (later rotations), jobs
// without a key, and jobs of another kind in the same claim. Every job
// they claim has its counted flipped (the trigger counted none of them).
func TestCountedMovesByKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	var params []*store.JobInsertParams
	for i := range 40 {
		p := &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1, MaxAttempts: 5,
			State: kilntype.JobStateAvailable, ScheduledAt: now, CreatedAt: now}
		switch {
		case i%10 == 9:
			p.Kind = "other"
		case i%5 != 4:
			p.Partition = strconv.Itoa(i % 3)
		}
		params = append(params, p)
	}
	if _, err := s.JobInsertMany(ctx, params); err != nil {
		t.Fatal(err)
	}
	finished := map[countedPair]int{}
	checkCounted(t, s, "insert", finished)
	claim := &store.JobClaimParams{Queue: "q", Kinds: []string{"k", "other"}, Max: 6, LeasedBy: "p",
		LeaseExpiresAt: now.Add(time.Minute), Now: now,
		Partitioned: map[string]store.PartitionClaim{"k": {MaxRunning: 4}}}
	var running []*kilntype.JobRow
	for round, left := 1, len(params); left > 0; round++ {
		got, err := s.JobClaim(ctx, claim)
		if err != nil {
			t.Fatal(err)
		}
		step := fmt.Sprintf("claim %d (%d jobs)", round, len(got))
		checkCounted(t, s, step, finished)
		// Inserted with counted = 1: a claimed job still at 1 was
		// counted by the trigger.
		var unflipped int
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM kiln_job WHERE state = 'running' AND counted = 1`).
			Scan(&unflipped); err != nil {
			t.Fatal(err)
		}
		if unflipped > 0 {
			t.Errorf("%s: %d running jobs without counted flipped: the claim left them to the trigger", step, unflipped)
		}
		if round > 100 {
			t.Fatalf("%d jobs left unclaimed after %d claims", left, round)
		}
		if len(got) > 0 {
			running, left = append(running, got...), left-len(got)
			continue
		}
		if len(running) == 0 {
			t.Fatalf("%s: nothing claimed and nothing running, %d jobs left", step, left)
		}
		// Every key is at its limit: finish what runs.
		fin := make([]*store.JobFinishParams, len(running))
		for i, j := range running {
			fin[i] = &store.JobFinishParams{ID: j.ID, LeasedBy: "p", State: kilntype.JobStateCompleted, Now: now}
		}
		if _, err := s.JobFinishMany(ctx, fin); err != nil {
			t.Fatal(err)
		}
		finished[countedPair{"q", "completed"}] += len(fin)
		checkCounted(t, s, "finish", finished)
		running = nil
	}
}
