package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// NewBenchStoreFunc returns a fresh, migrated store for one benchmark.
type NewBenchStoreFunc func(b *testing.B) store.Store

// Bench runs the store benchmarks every backend shares, so that backends
// compare on the same work: InsertMany inserts batches of 1000
// jobs (one op is one batch); ClaimFinish burns down a backlog,
// one op claiming a batch of 1, 10 or 100 jobs and finishing them as
// completed in one JobFinishMany, and reports the time per job of each call.
func Bench(b *testing.B, newStore NewBenchStoreFunc) {
	b.Run("InsertMany", func(b *testing.B) {
		const batch = 1000
		s := newStore(b)
		ps := benchParams(batch)
		b.ResetTimer()
		for b.Loop() {
			if _, err := s.JobInsertMany(b.Context(), ps); err != nil {
				b.Fatal(err)
			}
		}
		reportJobs(b, batch)
	})
	for _, batch := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("ClaimFinish/batch=%d", batch), func(b *testing.B) { benchClaimFinish(b, newStore(b), batch) })
	}
}

// benchParams returns n insert params of available no-op jobs.
func benchParams(n int) []*store.JobInsertParams {
	ps := make([]*store.JobInsertParams, n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{"n":1}`),
			Priority: 1, MaxAttempts: 25, State: kilntype.JobStateAvailable,
			ScheduledAt: base, CreatedAt: base}
	}
	return ps
}

func benchClaimFinish(b *testing.B, s store.Store, batch int) {
	ctx := b.Context()
	ps := benchParams(1000)
	inserted := 0
	now := base.Add(time.Second)
	claim := &store.JobClaimParams{Queue: "default", Max: batch, LeasedBy: "bench", Kinds: []string{"noop", "other"},
		LeaseExpiresAt: now.Add(time.Minute), Now: now}
	finish := make([]*store.JobFinishParams, 0, batch)
	var claimTime, finishTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		if inserted < batch {
			b.StopTimer()
			if _, err := s.JobInsertMany(ctx, ps); err != nil {
				b.Fatal(err)
			}
			inserted += len(ps)
			b.StartTimer()
		}
		start := time.Now()
		jobs, err := s.JobClaim(ctx, claim)
		claimTime += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if len(jobs) != batch {
			b.Fatalf("claimed %d jobs, want %d", len(jobs), batch)
		}
		inserted -= len(jobs)
		finish = finish[:0]
		for _, j := range jobs {
			finish = append(finish, &store.JobFinishParams{ID: j.ID, LeasedBy: "bench", AttemptedAt: *j.AttemptedAt,
				State: kilntype.JobStateCompleted, Now: now,
				Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: now,
					FinishedAt: &now, Server: "bench", Outcome: kilntype.AttemptSucceeded}})
		}
		start = time.Now()
		if _, err := s.JobFinishMany(ctx, finish); err != nil {
			b.Fatal(err)
		}
		finishTime += time.Since(start)
	}
	reportJobs(b, batch)
	b.ReportMetric(float64(claimTime.Nanoseconds())/float64(b.N*batch), "claim-ns/job")
	b.ReportMetric(float64(finishTime.Nanoseconds())/float64(b.N*batch), "finish-ns/job")
}

// reportJobs reports throughput in jobs per second, perOp jobs per op.
func reportJobs(b *testing.B, perOp int) {
	b.Helper()
	if sec := b.Elapsed().Seconds(); sec > 0 {
		b.ReportMetric(float64(b.N*perOp)/sec, "jobs/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perOp), "ns/job")
	}
}
