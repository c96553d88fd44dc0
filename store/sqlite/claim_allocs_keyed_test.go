package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestPlainClaimKeyedAllocs: a plain claim (no per-key settings) of 100
// keyed jobs allocates at most 1.8 times what a claim of 100 jobs without
// a key does. It reads the keyed jobs' candidates from the fair index
// (id, kind, priority, scheduled_at: the driver allocates for each
// candidate read, picked or not) and then the picked jobs' rows by ID; 1.66
// times when written (1,940 against 1,171). Reading the candidates'
// partition keys and a second JobRow per job made it 1.91 times (found by
// review).
func TestPlainClaimKeyedAllocs(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	const max = 100
	measure := func(keyed bool) float64 {
		s := openMigrated(t)
		ps := make([]*store.JobInsertParams, 6000)
		for i := range ps {
			key := ""
			if keyed {
				key = fmt.Sprintf("key%d", i%1000)
			}
			ps[i] = &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
				State: kilntype.JobStateAvailable, ScheduledAt: now.Add(-time.Duration(6000-i) * time.Millisecond),
				CreatedAt: now, Partition: key}
		}
		if _, err := s.JobInsertMany(ctx, ps); err != nil {
			t.Fatal(err)
		}
		claim := func() {
			p := store.JobClaimParams{Queue: "q", Kinds: []string{"k"}, Max: max, LeasedBy: "p", Now: now, LeaseExpiresAt: now.Add(time.Hour)}
			if got, err := s.JobClaim(ctx, &p); err != nil || len(got) != max {
				t.Fatalf("%d jobs, %v", len(got), err)
			}
		}
		claim() // prepares
		return testing.AllocsPerRun(40, claim)
	}
	unkeyed, keyed := measure(false), measure(true)
	t.Logf("allocations per claim of %d jobs: without a key %.0f, keyed %.0f (%.2f×)", max, unkeyed, keyed, keyed/unkeyed)
	if keyed > 1.8*unkeyed {
		t.Errorf("a plain claim of %d keyed jobs allocates %.0f times, %.2f× a claim of jobs without a key (%.0f)", max, keyed, keyed/unkeyed, unkeyed)
	}
}
