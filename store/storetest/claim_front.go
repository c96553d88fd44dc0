package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// testClaimFront checks the bound of store.ClaimFrontEvery and
// store.ClaimFrontAfter: a job that becomes due before, in claim order,
// the jobs that an earlier claim of its queue and kinds took (a higher
// priority, an earlier ScheduledAt, a continuation released) is claimed
// by one of the next ClaimFrontEvery claims of the same Store, by the
// first one ClaimFrontAfter later, and by a claim that would otherwise
// take fewer jobs than its Max. A store that always claims from the front
// (SQLite) claims it at once.
func testClaimFront(t *testing.T, newStore NewStoreFunc) {
	now := base.Add(time.Hour)
	const q = "front"
	named := func(max int, at time.Time) *store.JobClaimParams {
		return &store.JobClaimParams{Queue: q, Max: max, Kinds: []string{"noop"}, LeasedBy: procA,
			LeaseExpiresAt: at.Add(leaseTTL), Now: at}
	}
	// Each case makes one job due before the queue's claimed jobs.
	below := []struct {
		name string
		mk   func(f *fixture) int64
	}{
		{"HigherPriority", func(f *fixture) int64 { return f.insert(queue(q), priority(1)).ID }},
		{"EarlierScheduledAt", func(f *fixture) int64 {
			return f.insert(queue(q), priority(2), scheduledAt(base)).ID
		}},
		{"ContinuationReleased", func(f *fixture) int64 {
			parent := f.running()
			child := f.insert(queue(q), priority(2), childOf(kilntype.ParentFailureRun, parent.ID))
			f.finish(finishParams(parent, kilntype.JobStateCompleted, base.Add(time.Minute)))
			// Released at base + 2 minutes: its ScheduledAt is before the
			// claimed jobs' (base + 30 minutes).
			wantIDs(f.t, "released", ids(f.resolve(base.Add(2*time.Minute))), []int64{child.ID})
			return child.ID
		}},
	}
	// setup inserts 3 × ClaimFrontEvery jobs of priority 2, due at base + 30
	// minutes, and claims the first 2 of them (as many as asked for), then
	// makes the case's job due before them; it returns that job's ID and
	// how many of the others are left.
	setup := func(t *testing.T, mk func(f *fixture) int64) (*fixture, int64, int) {
		f := newFixture(t, newStore)
		n := 3 * store.ClaimFrontEvery
		f.insertN(n, queue(q), priority(2), scheduledAt(base.Add(30*time.Minute)))
		if got := f.claim(named(2, now)); len(got) != 2 {
			t.Fatalf("first claim took %d jobs, want 2", len(got))
		}
		return f, mk(f), n - 2
	}
	for _, c := range below {
		t.Run(c.name, func(t *testing.T) {
			t.Run("WithinClaimFrontEvery", func(t *testing.T) {
				f, id, _ := setup(t, c.mk)
				for i := 1; i <= store.ClaimFrontEvery; i++ {
					got := f.claim(named(1, now))
					if len(got) != 1 {
						t.Fatalf("claim %d took %d jobs, want 1", i, len(got))
					}
					if got[0].ID == id {
						return
					}
				}
				t.Fatalf("job %d not claimed by the %d claims after it became due", id, store.ClaimFrontEvery)
			})
			t.Run("AfterClaimFrontAfter", func(t *testing.T) {
				f, id, _ := setup(t, c.mk)
				wantIDs(t, "claimed", ids(f.claim(named(1, now.Add(store.ClaimFrontAfter)))), []int64{id})
			})
			t.Run("ShortClaim", func(t *testing.T) {
				f, id, left := setup(t, c.mk)
				got := f.claim(named(left+1, now))
				if len(got) != left+1 || !slices.Contains(ids(got), id) {
					t.Fatalf("claim of %d took %d jobs, job %d among them: %v; want all", left+1, len(got), id,
						slices.Contains(ids(got), id))
				}
				if got[0].ID != id {
					t.Errorf("claimed %d first, want %d (claim order)", got[0].ID, id)
				}
			})
		})
	}
}
