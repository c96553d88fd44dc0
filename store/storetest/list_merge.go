package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// testListMerged checks the lists that a store reads state by state and
// merges by ID (store.MergedListStates: a kind or queue filter over every
// state, available jobs, or final and in-flight states together): every
// page, in either order, from every cursor, up to a stop, lists what
// filtering all jobs lists, whichever way the store reads the available
// jobs (few of a kind, sorted; many, in ID order; none).
func testListMerged(t *testing.T, newStore NewStoreFunc) {
	f := newFixture(t, newStore)
	// Jobs of every state, kinds a (common) and b (rare) interleaved by
	// ID. The jobs that a claim makes running (running, retryable, final)
	// go to queue qz, where no job is due when they are claimed; the
	// available ones to q1 or q2, the pending and scheduled ones to q1 or
	// qz.
	states := kilntype.JobStates()
	for i := range 6 * len(states) {
		st := states[i%len(states)]
		k := "a"
		if i%3 == 0 {
			k = "b"
		}
		q := "qz"
		switch {
		case st == kilntype.JobStateAvailable && i%16 == 2:
			q = "q2"
		case st == kilntype.JobStateAvailable || ((st == kilntype.JobStatePending || st == kilntype.JobStateScheduled) && i%2 == 0):
			q = "q1"
		}
		f.inState(st, kind(k), queue(q))
	}
	// Many available jobs of kind a, newest: more than a store sorts.
	f.insertN(24, kind("a"), queue("q1"))
	all := f.list(&store.JobListParams{Limit: store.MaxListLimit, OrderAsc: true})
	byState := map[kilntype.JobState]int{}
	for _, j := range all {
		byState[j.State]++
	}
	if len(byState) != len(states) {
		t.Fatalf("jobs by state %v: want every state", byState)
	}

	for _, tc := range []struct {
		name string
		p    store.JobListParams
	}{
		{"CommonKind", store.JobListParams{Kinds: []string{"a"}}},
		{"RareKind", store.JobListParams{Kinds: []string{"b"}}},
		{"Kinds", store.JobListParams{Kinds: []string{"b", "a"}}},
		{"NoSuchKind", store.JobListParams{Kinds: []string{"zzz"}}},
		{"NoKind", store.JobListParams{Kinds: []string{}}},
		{"Queue", store.JobListParams{Queues: []string{"qz"}}},
		{"RareQueue", store.JobListParams{Queues: []string{"q2"}}},
		{"KindAndQueues", store.JobListParams{Kinds: []string{"b"}, Queues: []string{"q1", "qz"}}},
		{"AvailableOfRareKind", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}, Kinds: []string{"b"}}},
		{"AvailableOfCommonKind", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}, Kinds: []string{"a"}}},
		{"AvailableInQueue", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}, Queues: []string{"q2"}}},
		{"AvailableOfNoSuchKind", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}, Kinds: []string{"zzz"}}},
		{"FinalStatesOfKind", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateDiscarded,
			kilntype.JobStateCompleted, kilntype.JobStateCompleted}, Kinds: []string{"b"}}},
		{"AvailableRunningCompleted", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateRunning,
			kilntype.JobStateAvailable, kilntype.JobStateCompleted}, Kinds: []string{"a", "b"}, Queues: []string{"q1", "qz"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, asc := range []bool{false, true} {
				var want []int64
				for _, j := range all {
					if (tc.p.States == nil || slices.Contains(tc.p.States, j.State)) &&
						(tc.p.Kinds == nil || slices.Contains(tc.p.Kinds, j.Kind)) &&
						(tc.p.Queues == nil || slices.Contains(tc.p.Queues, j.Queue)) {
						want = append(want, j.ID)
					}
				}
				if !asc {
					slices.Reverse(want)
				}
				for _, limit := range []int{1, 3, store.DefaultListLimit} {
					what := fmt.Sprintf("asc %v, limit %d", asc, limit)
					// Page by page, from every cursor.
					var got []int64
					cursor := int64(0)
					for range len(all) + 1 {
						p := tc.p
						p.OrderAsc, p.Limit, p.Cursor = asc, limit, cursor
						page := f.list(&p)
						if len(page) > limit {
							t.Fatalf("%s: a page of %d jobs", what, len(page))
						}
						if len(page) == 0 {
							break
						}
						got = append(got, ids(page)...)
						cursor = page[len(page)-1].ID
					}
					wantIDs(t, what, got, want)
					// Up to a stop, from a cursor: the jobs between.
					if len(want) >= 3 {
						p := tc.p
						p.OrderAsc, p.Limit, p.Cursor, p.StopAt = asc, limit, want[0], want[2]
						wantIDs(t, what+", from the first to the third", ids(f.list(&p)), want[1:min(3, 1+limit)])
					}
				}
			}
			// Listed rows are whole rows.
			for _, j := range f.list(&tc.p) {
				wantSameJob(t, j, f.get(j.ID))
			}
		})
	}
}
