package storetest

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// skipList runs RecurringSkipList and fails the test on error.
func (f *fixture) skipList(id string, limit int) []*store.RecurringSkip {
	f.t.Helper()
	got, err := f.s.RecurringSkipList(f.ctx, &store.RecurringSkipListParams{ID: id, Limit: limit})
	if err != nil {
		f.t.Fatalf("RecurringSkipList(%q): %v", id, err)
	}
	if got == nil {
		f.t.Fatalf("RecurringSkipList(%q) = nil, want a list", id)
	}
	return got
}

// wantSkip fails t unless got is want, recorded at base.
func wantSkip(t *testing.T, got *store.RecurringSkip, want store.RecurringSkip) {
	t.Helper()
	wantTime(t, "At", got.At, want.At)
	wantTime(t, "Through", got.Through, want.Through)
	wantTime(t, "RecordedAt", got.RecordedAt, base)
	if got.RecurringID != want.RecurringID || got.Count != want.Count || got.Reason != want.Reason || got.Policy != want.Policy {
		t.Errorf("skip = %+v, want %+v", got, want)
	}
}

func testRecurringSkips(t *testing.T, newStore NewStoreFunc) {
	t.Run("OverlapAndGivenSkipsRecorded", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		f.recurring("other")
		f.recurringJobIn("e", minutes(1), kilntype.JobStateRunning)
		p := enqueueParams("e", kilntype.OverlapSkip, occurrence(minutes(10)), occurrence(minutes(11)))
		p.Skips = []store.RecurringSkip{{At: minutes(2), Through: minutes(9), Count: 8,
			Reason: store.SkipMisfire, Policy: string(kilntype.MisfireRunOnce)}}
		wantSkips(t, f.enqueue(p), "overlap", "overlap")
		got := f.skipList("e", 0)
		if len(got) != 3 {
			t.Fatalf("%d skips, want 3: %+v", len(got), got)
		}
		wantSkip(t, got[0], store.RecurringSkip{RecurringID: "e", At: minutes(11), Through: minutes(11), Count: 1, Reason: store.SkipOverlap, Policy: "skip"})
		wantSkip(t, got[1], store.RecurringSkip{RecurringID: "e", At: minutes(10), Through: minutes(10), Count: 1, Reason: store.SkipOverlap, Policy: "skip"})
		wantSkip(t, got[2], store.RecurringSkip{RecurringID: "e", At: minutes(2), Through: minutes(9), Count: 8, Reason: store.SkipMisfire, Policy: "run_once"})
		if n := len(f.skipList("e", 2)); n != 2 {
			t.Errorf("limit 2: %d skips", n)
		}
		if n := len(f.skipList("other", 0)); n != 0 {
			t.Errorf("other entry: %d skips, want none", n)
		}
		// Enqueued and duplicate occurrences record nothing; a skip at a
		// recorded time keeps the first record.
		p = enqueueParams("e", kilntype.OverlapAllow, occurrence(minutes(12)), occurrence(minutes(1)))
		p.Skips = []store.RecurringSkip{{At: minutes(2), Through: minutes(2), Count: 1, Reason: store.SkipMisfire, Policy: "skip"}}
		wantSkips(t, f.enqueue(p), "", "duplicate")
		got = f.skipList("e", 0)
		if len(got) != 3 {
			t.Fatalf("%d skips, want 3: %+v", len(got), got)
		}
		wantSkip(t, got[2], store.RecurringSkip{RecurringID: "e", At: minutes(2), Through: minutes(9), Count: 8, Reason: store.SkipMisfire, Policy: "run_once"})
	})

	t.Run("BoundedPerEntry", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		write := func(from, n int) {
			t.Helper()
			p := enqueueParams("e", kilntype.OverlapAllow)
			for i := range n {
				at := minutes(from + i)
				p.Skips = append(p.Skips, store.RecurringSkip{At: at, Through: at, Count: 1, Reason: store.SkipMisfire, Policy: "skip"})
			}
			f.enqueue(p)
		}
		write(0, store.MaxRecurringSkips-10)
		write(store.MaxRecurringSkips-10, 25) // 15 over the bound
		got := f.skipList("e", 1000)
		if len(got) != store.MaxRecurringSkips {
			t.Fatalf("%d skips kept, want %d", len(got), store.MaxRecurringSkips)
		}
		wantTime(t, "newest", got[0].At, minutes(store.MaxRecurringSkips+14))
		wantTime(t, "oldest kept", got[len(got)-1].At, minutes(15))
	})

	t.Run("GoWithTheirEntry", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		p := enqueueParams("e", kilntype.OverlapAllow)
		p.Skips = []store.RecurringSkip{{At: minutes(1), Through: minutes(1), Count: 1, Reason: store.SkipMisfire, Policy: "skip"}}
		f.enqueue(p)
		if _, err := f.s.RecurringDelete(f.ctx, &store.RecurringDeleteParams{ID: "e"}); err != nil {
			t.Fatal(err)
		}
		f.recurring("e")
		if n := len(f.skipList("e", 0)); n != 0 {
			t.Errorf("%d skips after the entry was deleted and made again, want none", n)
		}
		if n := len(f.skipList("unknown", 0)); n != 0 {
			t.Errorf("unknown entry: %d skips", n)
		}
	})
}

func testRecurringOccurrenceTimes(t *testing.T, newStore NewStoreFunc) {
	t.Run("FirstAndLatestAttempt", func(t *testing.T) { testOccurrenceAttemptTimes(t, newStore) })
}

// testOccurrenceAttemptTimes checks the attempt times RecurringOccurrenceList
// gives jobs not run, run once, retried and deleted.
func testOccurrenceAttemptTimes(t *testing.T, newStore NewStoreFunc) {
	f := newFixture(t, newStore)
	f.recurring("e")
	available := f.recurringJobIn("e", minutes(1), kilntype.JobStateAvailable)
	completed := f.recurringJobIn("e", minutes(2), kilntype.JobStateCompleted)
	f.recurringJobIn("e", minutes(3), jobDeleted)
	// Failed at its first attempt (claimed at base), completed at its
	// second, claimed at base+2h.
	retried := f.recurringJobIn("e", minutes(4), kilntype.JobStateRetryable)
	second := base.Add(2 * time.Hour)
	claimed := f.claim(claimParams(retried.Queue, 1, second))
	if len(claimed) != 1 || claimed[0].ID != retried.ID {
		t.Fatalf("second claim returned %v", ids(claimed))
	}
	f.finish(finishParams(claimed[0], kilntype.JobStateCompleted, second.Add(3*time.Second)))

	occs := f.occurrences("e", 0)
	if len(occs) != 4 {
		t.Fatalf("%d occurrences, want 4", len(occs))
	}
	byJob := map[int64]*store.RecurringOccurrence{}
	for _, o := range occs {
		byJob[o.JobID] = o
	}
	ptr := func(t time.Time) *time.Time { return &t }
	for _, tc := range []struct {
		name                          string
		o                             *store.RecurringOccurrence
		started, attempted, finalized *time.Time
		attempt                       int
	}{
		{"available", byJob[available.ID], nil, nil, nil, 0},
		{"completed", byJob[completed.ID], ptr(base), ptr(base), ptr(base.Add(time.Second)), 1},
		{"deleted", occs[1], nil, nil, nil, 0},
		{"retried", byJob[retried.ID], ptr(base), ptr(second), ptr(second.Add(3 * time.Second)), 2},
	} {
		if tc.o == nil {
			t.Errorf("%s: not listed", tc.name)
			continue
		}
		wantTimePtr(t, tc.name+" StartedAt", tc.o.StartedAt, tc.started)
		wantTimePtr(t, tc.name+" AttemptedAt", tc.o.AttemptedAt, tc.attempted)
		wantTimePtr(t, tc.name+" FinalizedAt", tc.o.FinalizedAt, tc.finalized)
		if tc.o.Attempt != tc.attempt {
			t.Errorf("%s: Attempt %d, want %d", tc.name, tc.o.Attempt, tc.attempt)
		}
	}
}
