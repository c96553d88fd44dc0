package storetest

import (
	"sync"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// countKind returns how many of jobs are of kind k.
func countKind(jobs []*kilntype.JobRow, k string) int {
	n := 0
	for _, j := range jobs {
		if j.Kind == k {
			n++
		}
	}
	return n
}

func testClaimClusterKindLimits(t *testing.T, newStore NewStoreFunc) {
	t.Run("RunningJobsAnywhereCount", func(t *testing.T) {
		f := newFixture(t, newStore)
		// One "limited" job already runs, in another queue and process.
		f.running(kind("limited"))
		f.insertN(5, kind("limited"))
		f.insertN(3, kind("free"))

		p := claimParams("default", 10, base)
		p.ClusterKindLimits = map[string]int{"limited": 3}
		jobs := f.claim(p)
		if got := countKind(jobs, "limited"); got != 2 {
			t.Fatalf("claimed %d limited jobs; want 2 (limit 3, 1 running elsewhere)", got)
		}
		if got := countKind(jobs, "free"); got != 3 {
			t.Fatalf("claimed %d free jobs; want 3", got)
		}
		if again := f.claim(p); len(again) != 0 {
			t.Fatalf("with the limit reached, a claim returned %v", ids(again))
		}

		// A finished job frees its slot.
		f.finish(finishParams(jobs[0], kilntype.JobStateCompleted, base))
		if got := f.claim(p); len(got) != 1 || got[0].Kind != "limited" {
			t.Fatalf("after one finished, claim = %v; want one limited job", ids(got))
		}
	})
	t.Run("LowerOfLocalAndCluster", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(4, kind("limited"))
		p := claimParams("default", 10, base)
		p.ClusterKindLimits = map[string]int{"limited": 10}
		p.KindLimits = map[string]int{"limited": 1}
		if got := f.claim(p); len(got) != 1 {
			t.Fatalf("local limit 1 under cluster limit 10: claimed %d; want 1", len(got))
		}
		p.KindLimits = map[string]int{"limited": 5}
		p.ClusterKindLimits = map[string]int{"limited": 2}
		if got := f.claim(p); len(got) != 1 {
			t.Fatalf("cluster limit 2 with 1 running: claimed %d; want 1", len(got))
		}
	})
	t.Run("ConcurrentClaimsNeverExceed", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(40, kind("limited"))
		const limit = 3
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			total int
		)
		for i := range 8 {
			wg.Go(func() {
				p := claimParams("default", 5, base)
				p.LeasedBy = []string{procA, procB}[i%2]
				p.ClusterKindLimits = map[string]int{"limited": limit}
				jobs, err := f.s.JobClaim(f.ctx, p)
				if err != nil {
					t.Errorf("JobClaim: %v", err)
					return
				}
				mu.Lock()
				total += len(jobs)
				mu.Unlock()
			})
		}
		wg.Wait()
		if total != limit {
			t.Fatalf("8 concurrent claims took %d jobs; want exactly the limit, %d", total, limit)
		}
		running := f.list(&store.JobListParams{States: []kilntype.JobState{kilntype.JobStateRunning}})
		if len(running) != limit {
			t.Fatalf("%d jobs running; want %d", len(running), limit)
		}
	})
}
