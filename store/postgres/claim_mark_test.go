package postgres

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestClaimStartsPastMark checks that a plain claim of named kinds starts
// past the last job of the Store's previous claim of its queue and kinds
// when that claim took as many jobs as it asked for: a job inserted since
// before that mark (a higher priority) is not read by the next claim,
// which takes the job after the mark, while another Store (another
// process, no mark) takes it first. store/storetest's JobClaimFront checks
// the bound within which the first Store still takes such a job.
func TestClaimStartsPastMark(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	other := OpenForTest(t, &Options{Schema: s.schema, MaxConns: 2, CallerClock: true})
	ctx := t.Context()
	at := time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC)
	insert := func(priority, n int) []int64 {
		ps := make([]*store.JobInsertParams, n)
		for i := range ps {
			ps[i] = &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: priority,
				MaxAttempts: 3, State: kilntype.JobStateAvailable, ScheduledAt: at, CreatedAt: at}
		}
		res, err := s.JobInsertMany(ctx, ps)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, n)
		for i, r := range res {
			ids[i] = r.Job.ID
		}
		return ids
	}
	claim := func(st *Store, max int) []int64 {
		jobs, err := st.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: max, Kinds: []string{"k"},
			LeasedBy: "p", LeaseExpiresAt: at.Add(time.Minute), Now: at})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		return ids
	}
	later := insert(2, 5)
	if got := claim(s, 2); !equalIDs(got, later[:2]) {
		t.Fatalf("first claim took %v, want %v", got, later[:2])
	}
	first := insert(1, 1)
	if got := claim(s, 1); !equalIDs(got, later[2:3]) {
		t.Fatalf("claim after the mark took %v, want %v (the job after the mark, not %v before it)", got, later[2:3], first)
	}
	if got := claim(other, 1); !equalIDs(got, first) {
		t.Fatalf("another Store's claim took %v, want %v (from the front)", got, first)
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestClaimMarksPruned checks that the marks of keys no longer claimed (the
// kinds a claim passes change as kinds reach their limits) are dropped
// once claimMarksPrune keys are kept and their last claim from the front
// is ClaimFrontAfter old, which leaves every claim's start as it was: such
// a mark's next claim reads from the front anyway.
func TestClaimMarksPruned(t *testing.T) {
	at := time.Date(2030, 1, 1, 1, 0, 0, 0, time.UTC)
	job := &kilntype.JobRow{ID: 7, Priority: 1, ScheduledAt: at}
	var ms claimMarks
	for i := range claimMarksPrune {
		key := claimMarkKey("q", []string{"k", string(rune('a' + i%26)), string(rune('a' + i/26))})
		ms.done(key, ms.start(key, at), at, 1, []*kilntype.JobRow{job})
	}
	fresh := claimMarkKey("q", []string{"fresh"})
	ms.done(fresh, ms.start(fresh, at), at, 1, []*kilntype.JobRow{job})
	if len(ms.marks) != claimMarksPrune+1 {
		t.Fatalf("%d marks kept within ClaimFrontAfter, want %d", len(ms.marks), claimMarksPrune+1)
	}
	later := at.Add(store.ClaimFrontAfter)
	ms.done(fresh, ms.start(fresh, later), later, 1, []*kilntype.JobRow{job})
	if len(ms.marks) != 1 || ms.marks[fresh] == nil || !ms.marks[fresh].set {
		t.Fatalf("after ClaimFrontAfter: %d marks (fresh: %+v), want the fresh key's alone", len(ms.marks), ms.marks[fresh])
	}
	if from := ms.start(fresh, later); !from.marked || from.id != job.ID {
		t.Errorf("the fresh key's next claim starts at %+v, want past job %d", from, job.ID)
	}
}
