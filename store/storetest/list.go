package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func testList(t *testing.T, newStore NewStoreFunc) {
	t.Run("Filters", func(t *testing.T) {
		f := newFixture(t, newStore)
		a1 := f.insert(kind("a"), queue("q1"))
		b1 := f.insert(kind("b"), queue("q1"))
		a2 := f.insert(kind("a"), queue("q2"), scheduled(base.Add(time.Second)))
		c2 := f.inState(kilntype.JobStateCompleted, kind("c"))
		for _, tc := range []struct {
			name string
			p    store.JobListParams
			want []int64
		}{
			{"All", store.JobListParams{}, []int64{c2.ID, a2.ID, b1.ID, a1.ID}},
			{"Asc", store.JobListParams{OrderAsc: true}, []int64{a1.ID, b1.ID, a2.ID, c2.ID}},
			{"Kind", store.JobListParams{Kinds: []string{"a"}}, []int64{a2.ID, a1.ID}},
			{"Kinds", store.JobListParams{Kinds: []string{"b", "c"}}, []int64{c2.ID, b1.ID}},
			{"Queue", store.JobListParams{Queues: []string{"q1"}}, []int64{b1.ID, a1.ID}},
			{"State", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateScheduled}}, []int64{a2.ID}},
			{"States", store.JobListParams{States: []kilntype.JobState{
				kilntype.JobStateAvailable, kilntype.JobStateCompleted}}, []int64{c2.ID, b1.ID, a1.ID}},
			{"Combined", store.JobListParams{Kinds: []string{"a"}, Queues: []string{"q1", "q2"},
				States: []kilntype.JobState{kilntype.JobStateAvailable}}, []int64{a1.ID}},
			{"NoMatch", store.JobListParams{Kinds: []string{"zzz"}}, nil},
			{"EmptyFilterMatchesNothing", store.JobListParams{Kinds: []string{}}, nil},
		} {
			got := f.list(&tc.p)
			wantIDs(t, tc.name, ids(got), tc.want)
		}
		// Listed rows are whole rows.
		wantSameJob(t, f.list(&store.JobListParams{Kinds: []string{"c"}})[0], f.get(c2.ID))
	})

	t.Run("KeysetPagination", func(t *testing.T) {
		for _, asc := range []bool{false, true} {
			name := "Desc"
			if asc {
				name = "Asc"
			}
			t.Run(name, func(t *testing.T) {
				f := newFixture(t, newStore)
				all := ids(f.insertN(25))
				if !asc {
					slices.Reverse(all)
				}
				var got []int64
				cursor := int64(0)
				for page := 0; ; page++ {
					jobs := f.list(&store.JobListParams{Cursor: cursor, OrderAsc: asc, Limit: 10})
					if page == 1 {
						// A job added between pages: newest first pages
						// do not see it, oldest first pages end with it.
						added := f.insert()
						if asc {
							all = append(all, added.ID)
						}
					}
					if len(jobs) == 0 {
						break
					}
					if len(jobs) > 10 {
						t.Fatalf("page %d has %d jobs, want at most 10", page, len(jobs))
					}
					got = append(got, ids(jobs)...)
					cursor = jobs[len(jobs)-1].ID
				}
				wantIDs(t, "pages", got, all)
			})
		}
	})

	t.Run("Limit", func(t *testing.T) {
		f := newFixture(t, newStore)
		n := store.MaxListLimit + 1
		f.insertN(n)
		for _, tc := range []struct {
			limit, want int
		}{
			{0, store.DefaultListLimit},
			{1, 1},
			{store.MaxListLimit, store.MaxListLimit},
			{store.MaxListLimit + 1, store.MaxListLimit},
			{1 << 30, store.MaxListLimit},
		} {
			if got := len(f.list(&store.JobListParams{Limit: tc.limit})); got != tc.want {
				t.Errorf("Limit %d: %d jobs, want %d", tc.limit, got, tc.want)
			}
		}
	})
}

func testCountByState(t *testing.T, newStore NewStoreFunc) {
	t.Run("Empty", func(t *testing.T) {
		f := newFixture(t, newStore)
		counts, err := f.s.JobCountByState(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for state, n := range counts {
			if n != 0 {
				t.Errorf("%s: %d jobs in an empty store", state, n)
			}
		}
	})

	t.Run("EveryState", func(t *testing.T) {
		f := newFixture(t, newStore)
		want := map[kilntype.JobState]int{}
		for i, state := range kilntype.JobStates() {
			for range i%3 + 1 {
				f.inState(state)
			}
			want[state] = i%3 + 1
		}
		counts, err := f.s.JobCountByState(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, state := range kilntype.JobStates() {
			if counts[state] != want[state] {
				t.Errorf("%s: %d jobs, want %d", state, counts[state], want[state])
			}
		}
		if len(counts) > len(want) {
			t.Errorf("counts has unknown states: %v", counts)
		}
	})
}
