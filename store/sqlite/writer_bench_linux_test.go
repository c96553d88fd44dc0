package sqlite

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// BenchmarkWriterPerJob measures the single writer's work per job in the
// shape of the burn-down (issue 11): b.N available jobs (inserted before
// the timer starts), then claims of 100, each followed by the completion
// of the jobs claimed two claims before (so about 200 run at once), until
// every job is completed. It reports the CPU time of the calling thread
// (the store runs SQLite on it: a measure of the writer that other
// processes' load inflates less than elapsed time) per job for the claims
// and for the finishes, and the pages the writer wrote per job.
func BenchmarkWriterPerJob(b *testing.B) {
	ctx := b.Context()
	s := openMigrated(b)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	for i := 0; i < b.N; i += 1000 {
		var params []*store.JobInsertParams
		for range min(1000, b.N-i) {
			params = append(params, &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1,
				MaxAttempts: 25, State: kilntype.JobStateAvailable, ScheduledAt: now, CreatedAt: now})
		}
		if _, err := s.JobInsertMany(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
	claim := &store.JobClaimParams{Queue: "q", Kinds: []string{"k"}, Max: 100, LeasedBy: "p",
		LeaseExpiresAt: now.Add(time.Minute), Now: now}
	warm := *claim
	warm.Queue = "other" // prepares the statements
	if _, err := s.JobClaim(ctx, &warm); err != nil {
		b.Fatal(err)
	}
	finish := func(jobs []*kilntype.JobRow) {
		params := make([]*store.JobFinishParams, len(jobs))
		for i, j := range jobs {
			params[i] = &store.JobFinishParams{ID: j.ID, LeasedBy: "p", State: kilntype.JobStateCompleted, Now: now,
				AttemptedAt: *j.AttemptedAt,
				Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: now, FinishedAt: &now,
					Server: "p", Outcome: kilntype.AttemptSucceeded}}
		}
		if _, err := s.JobFinishMany(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var claimCPU, finishCPU time.Duration
	var running [][]*kilntype.JobRow
	pageCounts(b, s.w)
	b.ResetTimer()
	for done := 0; done < b.N; {
		t := threadCPU()
		jobs, err := s.JobClaim(ctx, claim)
		if err != nil {
			b.Fatal(err)
		}
		claimCPU += threadCPU() - t
		if len(jobs) > 0 {
			running = append(running, jobs)
		}
		for len(running) > 2 || (len(jobs) == 0 && len(running) > 0) {
			t := threadCPU()
			finish(running[0])
			finishCPU += threadCPU() - t
			done += len(running[0])
			running = running[1:]
		}
	}
	b.StopTimer()
	_, written := pageCounts(b, s.w)
	n := float64(b.N)
	b.ReportMetric(float64(claimCPU.Microseconds())/n, "claim-cpu-µs/job")
	b.ReportMetric(float64(finishCPU.Microseconds())/n, "finish-cpu-µs/job")
	b.ReportMetric(float64(written)/n, "pages-written/job")
}

// threadCPU returns the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil { // RUSAGE_THREAD
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
