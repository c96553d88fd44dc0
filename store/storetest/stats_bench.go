package storetest

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// EnvBenchJobs names the environment variable that turns BenchRead on and
// gives its number of jobs, e.g. KILN_BENCH_JOBS=1000000. Seeding a million
// jobs takes tens of seconds per store, so a plain `go test -bench .` skips
// it.
const EnvBenchJobs = "KILN_BENCH_JOBS"

// Seed shape of BenchRead: what SeedFunc must insert.
const (
	// BenchQueues is the number of queues, "queue-0" to "queue-9": job i
	// goes to queue (i / 3) % BenchQueues.
	BenchQueues = 10
	// BenchKinds is the number of kinds, "kind-0" to "kind-19": job i is
	// of kind (i / 7) % BenchKinds.
	BenchKinds = 20
)

// BenchState is the state of seeded job i (from 0): per 100 jobs, 70
// completed, 10 available, 5 scheduled, 5 retryable, 5 discarded, 2
// cancelled, 1 running and 2 pending, as a busy installation that keeps a
// day of finished jobs might hold.
func BenchState(i int) kilntype.JobState {
	r := i % 100
	for _, s := range benchStates {
		if r < s.below {
			return s.state
		}
	}
	return kilntype.JobStatePending
}

// benchStates gives BenchState's shares: the state of the jobs whose i %
// 100 is below each bound (and at least the previous one).
var benchStates = []struct {
	below int
	state kilntype.JobState
}{
	{70, kilntype.JobStateCompleted}, {80, kilntype.JobStateAvailable}, {85, kilntype.JobStateScheduled},
	{90, kilntype.JobStateRetryable}, {95, kilntype.JobStateDiscarded}, {97, kilntype.JobStateCancelled},
	{98, kilntype.JobStateRunning}, {100, kilntype.JobStatePending},
}

// SeedFunc fills s, a fresh store, with n jobs by the fastest path the
// backend has (one INSERT ... SELECT over a generated series, through the
// counters' triggers): job i (from 0) in the queue, kind and state that
// BenchQueues, BenchKinds and BenchState give, created a day before now
// at the earliest and, if finalized, finalized before now. It also writes
// a week of per-minute history up to now, of every queue and of each. A
// PostgreSQL seed then runs VACUUM ANALYZE, as autovacuum would soon after
// such an insert.
type SeedFunc func(b *testing.B, s store.Store, n int, now time.Time)

// BenchRead measures the reads a dashboard makes on a store of
// $KILN_BENCH_JOBS jobs (skipped when unset): Stats (JobCountByQueueState),
// JobHistory over a day by minute and a week by hour, the first page of
// JobList unfiltered and filtered by state, queue and kind, QueueList, and
// the old JobCountByState for comparison. Each op is one call; the seeding
// is not timed.
func BenchRead(b *testing.B, newStore NewBenchStoreFunc, seed SeedFunc) {
	n, err := strconv.Atoi(os.Getenv(EnvBenchJobs))
	if err != nil || n < 1 {
		b.Skipf("set %s to a number of jobs (e.g. 1000000) to run the read benchmarks", EnvBenchJobs)
	}
	s := newStore(b)
	now := base
	start := time.Now()
	seed(b, s, n, now)
	b.Logf("seeded %d jobs in %v", n, time.Since(start).Round(time.Millisecond))

	counts := map[kilntype.JobState]int{}
	for i := range n {
		counts[BenchState(i)]++
	}
	type read struct {
		name string
		run  func(b *testing.B) error
	}
	list := func(p store.JobListParams) func(b *testing.B) error {
		return func(b *testing.B) error {
			jobs, err := s.JobList(b.Context(), &p)
			if err == nil && len(jobs) == 0 {
				err = fmt.Errorf("JobList(%+v) returned no job", p)
			}
			return err
		}
	}
	history := func(span, bucket time.Duration, queue string) func(b *testing.B) error {
		return func(b *testing.B) error {
			points, err := s.JobHistory(b.Context(), &store.JobHistoryParams{From: now.Add(-span), To: now,
				Bucket: bucket, Queue: queue})
			if err == nil && len(points) < int(span/bucket) {
				err = fmt.Errorf("JobHistory over %v by %v: %d points, want %d", span, bucket, len(points), span/bucket)
			}
			return err
		}
	}
	var reads []read
	reads = append(reads, read{"Stats", func(b *testing.B) error {
		got, err := s.JobCountByQueueState(b.Context())
		total := 0
		for _, c := range got {
			total += c.Count
		}
		if err == nil && total != n {
			err = fmt.Errorf("JobCountByQueueState counts %d jobs, want %d", total, n)
		}
		return err
	}},
		read{"JobHistory/day-by-minute", history(24*time.Hour, time.Minute, "")},
		read{"JobHistory/week-by-hour", history(7*24*time.Hour, time.Hour, "")},
		read{"JobHistory/queue-day-by-minute", history(24*time.Hour, time.Minute, "queue-3")})
	reads = append(reads,
		read{"JobList/first-page", list(store.JobListParams{})},
		read{"JobList/state=available", list(store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}})},
		read{"JobList/state=completed", list(store.JobListParams{States: []kilntype.JobState{kilntype.JobStateCompleted}})},
		read{"JobList/state=running", list(store.JobListParams{States: []kilntype.JobState{kilntype.JobStateRunning}})},
		read{"JobList/queue=queue-3", list(store.JobListParams{Queues: []string{"queue-3"}})},
		read{"JobList/kind=kind-7", list(store.JobListParams{Kinds: []string{"kind-7"}})},
		read{"JobList/queue=queue-3,state=retryable", list(store.JobListParams{Queues: []string{"queue-3"},
			States: []kilntype.JobState{kilntype.JobStateRetryable}})},
		read{"JobCountByState", func(b *testing.B) error {
			got, err := s.JobCountByState(b.Context())
			if err == nil && got[kilntype.JobStateCompleted] != counts[kilntype.JobStateCompleted] {
				err = fmt.Errorf("JobCountByState: %d completed, want %d", got[kilntype.JobStateCompleted],
					counts[kilntype.JobStateCompleted])
			}
			return err
		}})
	reads = append(reads, read{"QueueList", func(b *testing.B) error {
		rows, err := s.QueueList(b.Context())
		if err == nil && len(rows) != BenchQueues {
			err = fmt.Errorf("QueueList returned %d queues, want %d", len(rows), BenchQueues)
		}
		return err
	}})
	for _, r := range reads {
		b.Run(r.name, func(b *testing.B) {
			for b.Loop() {
				if err := r.run(b); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}
