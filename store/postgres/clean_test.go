package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store"
)

// insertCleanJobs inserts n jobs created and scheduled at created, every
// other one (the first) completed at finalized, the others scheduled,
// and returns the first ID.
func insertCleanJobs(t *testing.T, s *Store, n int, created, finalized time.Time) int64 {
	t.Helper()
	var first int64
	err := s.pool.QueryRow(t.Context(), s.expand(`WITH ins AS (INSERT INTO {s}.kiln_job (kind, queue, args, state,
	priority, attempt, max_attempts, created_at, scheduled_at, finalized_at)
SELECT 'k', 'q', '{}', CASE WHEN g % 2 = 1 THEN 'completed' ELSE 'scheduled' END, 1, 1, 1, $1, $1,
	CASE WHEN g % 2 = 1 THEN $2::timestamptz END
FROM generate_series(1, $3) AS g ORDER BY g RETURNING id)
SELECT min(id) FROM ins`), created, finalized, n).Scan(&first)
	if err != nil {
		t.Fatal(err)
	}
	return first
}

// countJobs returns the number of jobs in state.
func countJobs(t *testing.T, s *Store, state string) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(t.Context(), s.expand(`SELECT count(*) FROM {s}.kiln_job WHERE state = $1`), state).
		Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCleanFirstPassAcrossCalls checks that a cleaner's first pass over a
// table larger than a call's read bound finishes across calls: each call
// reads at most ReadMax jobs from where the last stopped and reports More
// until the front reaches the end; the jobs it passed that were due are
// gone, the others kept; a zero Now starts the first sweep's clock at the
// wall clock.
func TestCleanFirstPassAcrossCalls(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	old := now.Add(-2 * time.Hour)
	const jobs, readMax = 5000, 1000
	insertCleanJobs(t, s, jobs, old, old)
	progress := &store.CleanProgress{}
	p := &store.JobDeleteFinishedParams{CompletedBefore: now.Add(-time.Hour), Max: 10000, ReadMax: readMax,
		Progress: progress}
	before := time.Now()
	deleted := 0
	for call := 1; call <= jobs/readMax+1; call++ {
		read := progress.FrontRead
		n, err := s.JobDeleteFinished(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		deleted += n
		if r := progress.FrontRead - read; r > readMax {
			t.Errorf("call %d read %d jobs, want at most %d", call, r, readMax)
		}
		if want := call <= jobs/readMax; progress.More != want {
			t.Errorf("call %d: More %v, want %v", call, progress.More, want)
		}
		if call == 1 && (progress.SweptAt.Before(before) || progress.SweptAt.After(time.Now())) {
			t.Errorf("first sweep at %v, want the wall clock's time of the call (zero Now)", progress.SweptAt)
		}
	}
	if deleted != jobs/2 || countJobs(t, s, "completed") != 0 || countJobs(t, s, "scheduled") != jobs/2 {
		t.Errorf("deleted %d, left %d completed and %d scheduled; want %d deleted, every scheduled job kept",
			deleted, countJobs(t, s, "completed"), countJobs(t, s, "scheduled"), jobs/2)
	}
	if progress.SweepRead != jobs || progress.FrontRead != 0 || progress.Sweeping {
		t.Errorf("progress %+v, want the first pass's %d jobs counted as the first sweep's, no sweep under way",
			progress, jobs)
	}
}

// TestCleanResumesAfterCancel checks the deferred save: a call whose
// context ends while it deletes its second chunk returns the error with
// its front after the first chunk, which it committed, and the next call
// resumes there, reading only the jobs it had not passed.
func TestCleanResumesAfterCancel(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	old := now.Add(-2 * time.Hour)
	// 150 jobs: the first chunk reads cleanFirstChunk (100), the second
	// the other 50.
	first := insertCleanJobs(t, s, 150, old, old)
	blocked := first + 120 // completed, in the second chunk
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job_attempt (job_id, attempt, started_at, server, outcome)
VALUES ($1, 1, $2, 's', 'error')`), blocked, old); err != nil {
		t.Fatal(err)
	}
	// Another transaction locks the attempt, so that the delete of its
	// job (ON DELETE CASCADE) waits.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // released below
	if _, err := tx.Exec(ctx, s.expand(`SELECT 1 FROM {s}.kiln_job_attempt WHERE job_id = $1 FOR UPDATE`), blocked); err != nil {
		t.Fatal(err)
	}
	progress := &store.CleanProgress{}
	p := &store.JobDeleteFinishedParams{CompletedBefore: now.Add(-time.Hour), Max: 1000, Now: now, Progress: progress}
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.JobDeleteFinished(callCtx, p)
		done <- err
	}()
	testutil.Eventually(t, "the clean's delete to wait for the lock", func() bool {
		var waiting bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM %kiln_job%' AND datname = current_database())`).Scan(&waiting)
		return err == nil && waiting
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v, want context.Canceled", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// The cancelled call's transaction ends when its backend sees the
	// cancel: until then it holds the locks of the second chunk's jobs.
	testutil.Eventually(t, "the cancelled delete to end", func() bool {
		var active bool
		err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_catalog.pg_stat_activity
			WHERE state <> 'idle' AND query LIKE 'DELETE FROM %' AND position($1 in query) > 0)`, s.schema).Scan(&active)
		return err == nil && !active
	})
	if len(progress.Fronts) != 1 || progress.Fronts[0] != first+100 || progress.FrontRead != 150 || !progress.More {
		t.Fatalf("progress after the cancel %+v, want the front at %d (after the first chunk), 150 read, More",
			progress, first+100)
	}
	if c := countJobs(t, s, "completed"); c != 25 {
		t.Fatalf("%d completed jobs left after the cancel, want 25 (those of the second chunk)", c)
	}
	n, err := s.JobDeleteFinished(ctx, p)
	if err != nil || n != 25 {
		t.Fatalf("next call: %d, %v, progress %+v; want 25 deleted", n, err, progress)
	}
	// The first pass (counted as the first sweep) read 150 jobs, then the
	// second chunk's 50 again; from the start, it would have read the
	// first chunk's 50 scheduled jobs too.
	if progress.SweepRead != 200 || progress.More || progress.Fronts[0] != first+150 {
		t.Errorf("progress after the next call %+v, want 200 jobs read in all (the second chunk again), front at %d",
			progress, first+150)
	}
}

// TestCleanFrontsAndSweeps checks the fronts and the sweep: a front moves
// over the jobs created before its cut-off only; each cut-off has its own,
// so a job kept longer is deleted by its own front once due, without a
// sweep; a job that was not due when its front passed (it finished late)
// waits for a sweep, which begins once SweepEvery passed and the fronts
// read as many jobs as the last sweep did.
func TestCleanFrontsAndSweeps(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	progress := &store.CleanProgress{}
	call := func(at time.Time) int {
		t.Helper()
		n, err := s.JobDeleteFinished(t.Context(), &store.JobDeleteFinishedParams{
			CompletedBefore: at.Add(-time.Hour), DiscardedBefore: at.Add(-7 * day), Max: 1000,
			Now: at, SweepEvery: day, Progress: progress})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// 20 old jobs, half completed (due), a discarded one 6 days old (kept
	// a day longer), a scheduled one that will finish late, and 10 young.
	insertCleanJobs(t, s, 20, now.Add(-8*day), now.Add(-8*day))
	var discarded, late int64
	if err := s.pool.QueryRow(t.Context(), s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	attempt, max_attempts, created_at, scheduled_at, finalized_at)
VALUES ('k', 'q', '{}', 'discarded', 1, 1, 1, $1, $1, $1) RETURNING id`), now.Add(-6*day)).Scan(&discarded); err != nil {
		t.Fatal(err)
	}
	late = insertCleanJobs(t, s, 2, now.Add(-2*day), now.Add(-2*day)) + 1
	young := insertCleanJobs(t, s, 10, now, now)
	if n := call(now); n != 11 {
		t.Fatalf("first call deleted %d, want 11 (the old completed jobs and one of two days)", n)
	}
	if len(progress.Fronts) != 2 || progress.Fronts[0] != young {
		t.Fatalf("fronts %v, want 2, the first at the first young job %d", progress.Fronts, young)
	}
	// The first pass stands for a sweep of the jobs that the widest front
	// read (its first read of up to 100 returned all 33), not for every
	// front's reads (the second front read the oldest jobs again).
	if progress.SweepRead != 33 {
		t.Fatalf("first pass counted as a sweep of %d jobs, want 33", progress.SweepRead)
	}
	// The late job finishes now, long after its front passed.
	if _, err := s.pool.Exec(t.Context(), s.expand(`UPDATE {s}.kiln_job SET state = 'completed', finalized_at = $2
WHERE id = $1`), late, now); err != nil {
		t.Fatal(err)
	}
	// A day and a half on: the discarded job is due and its front
	// reaches it; the late job, due too, waits for a sweep, which the
	// fronts' few reads since the first pass (which read every job) do
	// not pay for yet.
	at := now.Add(36 * time.Hour)
	if n := call(at); n != 1+5 {
		t.Fatalf("call a day and a half on deleted %d, want 6 (the discarded job and the young completed ones)", n)
	}
	if _, err := s.JobGet(t.Context(), &store.JobGetParams{ID: discarded}); err == nil {
		t.Error("discarded job kept once its front passed it due")
	}
	if _, err := s.JobGet(t.Context(), &store.JobGetParams{ID: late}); err != nil {
		t.Fatalf("late job: %v, want it kept until a sweep", err)
	}
	// More jobs go through the fronts: once they read as many as the
	// last sweep (the first pass), the call sweeps.
	more := int(progress.SweepRead)
	insertCleanJobs(t, s, more, at.Add(-2*time.Hour), at.Add(-2*time.Hour))
	at = at.Add(time.Minute)
	if n := call(at); n != (more+1)/2+1 || !progress.SweptAt.Equal(at) || progress.Sweeping {
		t.Errorf("call after %d more jobs deleted %d, progress %+v; want their %d completed ones and the late job, "+
			"deleted by a sweep begun then", more, n, progress, (more+1)/2)
	}
	if _, err := s.JobGet(t.Context(), &store.JobGetParams{ID: late}); err == nil {
		t.Error("late job kept after a sweep")
	}
}
