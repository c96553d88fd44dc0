package kiln_test

import (
	"context"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
)

// enqueueBenchArgs are the args of BenchmarkEnqueueMany's jobs: two fields,
// so that encoding them is not free, as River's benchmark inserts.
type enqueueBenchArgs struct {
	N    int    `json:"n"`
	Note string `json:"note"`
}

func (enqueueBenchArgs) Kind() string { return "enqueue_bench" }

// BenchmarkEnqueueMany enqueues b.N jobs on SQLite in calls to
// Client.EnqueueMany of 1,000 jobs each (as bench/cmd/compare's continuous
// inserter and River's InsertMany benchmark), with no worker running. It
// reports jobs/s and cpu-µs/job (this process's CPU, SQLite's included);
// with -benchmem, allocs/op is per job.
func BenchmarkEnqueueMany(b *testing.B) {
	st := openStore(&testing.T{}, b.TempDir()+"/kiln.db")
	defer st.Close()
	enqueueMany(b, &kiln.Config{Store: st})
}

// BenchmarkEnqueueManyPostgres is BenchmarkEnqueueMany on PostgreSQL
// ($KILN_TEST_POSTGRES_URL, a fresh schema, a pool of 4 connections;
// skipped without the variable): its cpu-µs/job and allocs/op are this
// process's alone, without the database's.
func BenchmarkEnqueueManyPostgres(b *testing.B) {
	enqueueMany(b, &kiln.Config{Store: openBenchPostgres(b)})
}

func enqueueMany(b *testing.B, cfg *kiln.Config) {
	c, err := kiln.NewClient(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const batch = 1000
	params := make([]kiln.EnqueueParams, 0, batch)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	for i := 0; i < b.N; i += batch {
		params = params[:0]
		for j := i; j < min(i+batch, b.N); j++ {
			params = append(params, kiln.EnqueueParams{Args: enqueueBenchArgs{N: j, Note: "benchmark"}})
		}
		if _, err := c.EnqueueMany(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
	elapsed, cpu := time.Since(start), processCPU()-cpu
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/job")
}
