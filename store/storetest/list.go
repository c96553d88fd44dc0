package storetest

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

	t.Run("FinishedStates", func(t *testing.T) {
		// A list of one final state reads that state's jobs in ID order
		// (an index of finished jobs, the kind and queue checked on its
		// entries): the jobs the filters say, in either order, past a
		// cursor and up to a stop.
		f := newFixture(t, newStore)
		c1 := f.inState(kilntype.JobStateCompleted, kind("a"), queue("q1"))
		d1 := f.inState(kilntype.JobStateDiscarded, kind("a"), queue("q1"))
		c2 := f.inState(kilntype.JobStateCompleted, kind("b"), queue("q1"))
		c3 := f.inState(kilntype.JobStateCompleted, kind("a"), queue("q2"))
		x1 := f.inState(kilntype.JobStateCancelled, kind("a"), queue("q2"))
		a1 := f.insert(kind("a"), queue("q1")) // last: the claims above take their own job
		completed := []kilntype.JobState{kilntype.JobStateCompleted}
		for _, tc := range []struct {
			name string
			p    store.JobListParams
			want []int64
		}{
			{"Completed", store.JobListParams{States: completed}, []int64{c3.ID, c2.ID, c1.ID}},
			{"CompletedAsc", store.JobListParams{States: completed, OrderAsc: true}, []int64{c1.ID, c2.ID, c3.ID}},
			{"CompletedOfKind", store.JobListParams{States: completed, Kinds: []string{"a"}}, []int64{c3.ID, c1.ID}},
			{"CompletedInQueue", store.JobListParams{States: completed, Queues: []string{"q1"}}, []int64{c2.ID, c1.ID}},
			{"CompletedOfKindInQueue", store.JobListParams{States: completed, Kinds: []string{"a"}, Queues: []string{"q2"}},
				[]int64{c3.ID}},
			{"CompletedOfKindsAfterCursor", store.JobListParams{States: completed, Kinds: []string{"a", "b"}, Cursor: c3.ID},
				[]int64{c2.ID, c1.ID}},
			{"CompletedStopAt", store.JobListParams{States: completed, StopAt: c2.ID}, []int64{c3.ID, c2.ID}},
			{"Discarded", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateDiscarded}}, []int64{d1.ID}},
			{"CancelledOfKind", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateCancelled},
				Kinds: []string{"a"}}, []int64{x1.ID}},
			{"FinalStatesOfKind", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateCompleted,
				kilntype.JobStateCancelled, kilntype.JobStateDiscarded}, Kinds: []string{"a"}},
				[]int64{x1.ID, c3.ID, d1.ID, c1.ID}},
			{"AvailableOfKind", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable},
				Kinds: []string{"a"}}, []int64{a1.ID}},
		} {
			wantIDs(t, tc.name, ids(f.list(&tc.p)), tc.want)
		}
	})

	t.Run("TagAndArgs", func(t *testing.T) {
		f := newFixture(t, newStore)
		red := f.insert(withTags("red", "big"), withArgs(`{"email":"Ann@example.com","n":1}`))
		blue := f.insert(withTags("blue"), withArgs(`{"email":"bob@example.com","n":2}`))
		plain := f.insert(withArgs(`{"email":"ann@example.com","n":3}`))
		bigDone := f.inState(kilntype.JobStateCompleted, withTags("big", "red,blue", "ann"), withArgs(`{"note":"a \"quoted\" 100%_"}`))
		for _, tc := range []struct {
			name string
			p    store.JobListParams
			want []int64
		}{
			{"Tag", store.JobListParams{Tag: "big"}, []int64{bigDone.ID, red.ID}},
			{"TagAsc", store.JobListParams{Tag: "big", OrderAsc: true}, []int64{red.ID, bigDone.ID}},
			{"TagIsWhole", store.JobListParams{Tag: "red"}, []int64{red.ID}},
			{"TagWithComma", store.JobListParams{Tag: "red,blue"}, []int64{bigDone.ID}},
			{"TagIsCaseSensitive", store.JobListParams{Tag: "BIG"}, nil},
			{"TagAndState", store.JobListParams{Tag: "big", States: []kilntype.JobState{kilntype.JobStateAvailable}}, []int64{red.ID}},
			{"TagCursor", store.JobListParams{Tag: "big", Cursor: bigDone.ID}, []int64{red.ID}},
			{"TagStopAt", store.JobListParams{Tag: "big", StopAt: blue.ID}, []int64{bigDone.ID}},
			{"Args", store.JobListParams{ArgsContains: "example.com"}, []int64{plain.ID, blue.ID, red.ID}},
			{"ArgsIsCaseSensitive", store.JobListParams{ArgsContains: "ann@"}, []int64{plain.ID}},
			{"ArgsSpecialCharacters", store.JobListParams{ArgsContains: `100%_`}, []int64{bigDone.ID}},
			{"ArgsNoWildcards", store.JobListParams{ArgsContains: `%`}, []int64{bigDone.ID}},
			{"ArgsNotTags", store.JobListParams{ArgsContains: "ann"}, []int64{plain.ID}},
			{"ArgsAndTag", store.JobListParams{ArgsContains: "example", Tag: "blue"}, []int64{blue.ID}},
			{"ArgsStopAtCursor", store.JobListParams{ArgsContains: "example", Cursor: plain.ID, StopAt: blue.ID}, []int64{blue.ID}},
		} {
			got := f.list(&tc.p)
			wantIDs(t, tc.name, ids(got), tc.want)
		}
	})

	t.Run("StopAt", func(t *testing.T) {
		f := newFixture(t, newStore)
		jobs := ids(f.insertN(6))
		for _, tc := range []struct {
			name string
			p    store.JobListParams
			want []int64
		}{
			{"Desc", store.JobListParams{StopAt: jobs[3]}, []int64{jobs[5], jobs[4], jobs[3]}},
			{"DescCursor", store.JobListParams{Cursor: jobs[5], StopAt: jobs[3]}, []int64{jobs[4], jobs[3]}},
			{"Asc", store.JobListParams{StopAt: jobs[1], OrderAsc: true}, []int64{jobs[0], jobs[1]}},
			{"AscCursor", store.JobListParams{Cursor: jobs[0], StopAt: jobs[2], OrderAsc: true}, []int64{jobs[1], jobs[2]}},
			{"Empty", store.JobListParams{Cursor: jobs[2], StopAt: jobs[2]}, nil},
		} {
			wantIDs(t, tc.name, ids(f.list(&tc.p)), tc.want)
		}
	})

	t.Run("MergedStates", func(t *testing.T) { testListMerged(t, newStore) })

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

// testListArgsPreview checks JobListParams.ArgsPreview: long args come cut,
// at a character boundary, with their full length; short ones whole.
func testListArgsPreview(t *testing.T, newStore NewStoreFunc) {
	t.Run("CutsLongArgs", func(t *testing.T) {
		f := newFixture(t, newStore)
		small := f.insert(withArgs(`{"n":1}`), withTags("t"))
		// 'é' is two bytes: whatever the store's spacing, one of two preview
		// lengths cuts one in the middle.
		big := f.insert(withArgs(`{"s":"`+strings.Repeat("é", 100_000)+`"}`), withTags("t"))
		// A JSON string is printed alike by every store: exactly 1,000 bytes.
		exact := f.insert(withArgs(`"`+strings.Repeat("x", 998)+`"`), withTags("t"))
		done := f.inState(kilntype.JobStateCompleted, withArgs(`{"s":"`+strings.Repeat("ü", 50_000)+`"}`))
		full := map[int64][]byte{}
		for _, j := range []*kilntype.JobRow{small, big, exact, done} {
			got := f.get(j.ID)
			full[j.ID] = got.Args
			if got.ArgsBytes != len(got.Args) || got.ArgsTruncated || got.ArgsPreview != "" {
				t.Errorf("JobGet(%d): ArgsBytes %d, ArgsTruncated %v, ArgsPreview %d bytes; want %d, false, none",
					j.ID, got.ArgsBytes, got.ArgsTruncated, len(got.ArgsPreview), len(got.Args))
			}
			if j.ArgsBytes != len(j.Args) {
				t.Errorf("inserted job %d: ArgsBytes %d, want len(Args) %d", j.ID, j.ArgsBytes, len(j.Args))
			}
		}
		for _, j := range f.list(&store.JobListParams{}) {
			if j.ArgsTruncated || j.ArgsBytes != len(full[j.ID]) {
				t.Errorf("list without ArgsPreview: job %d truncated %v, ArgsBytes %d; want whole, %d", j.ID, j.ArgsTruncated, j.ArgsBytes, len(full[j.ID]))
			}
			wantJSON(t, "Args", j.Args, full[j.ID])
		}
		for _, tc := range []struct {
			name string
			p    store.JobListParams
		}{
			{"All", store.JobListParams{}},
			{"Asc", store.JobListParams{OrderAsc: true}},
			{"Tag", store.JobListParams{Tag: "t"}},
			{"State", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable, kilntype.JobStateCompleted}}},
			{"ArgsContains", store.JobListParams{ArgsContains: "é"}},
			{"KindOfEveryState", store.JobListParams{Kinds: []string{"noop"}}}, // store.MergedListStates
			{"AvailableOfKind", store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}, Kinds: []string{"noop"}}},
		} {
			for _, preview := range []int{1000, 1001} {
				p := tc.p
				p.ArgsPreview = preview
				jobs := f.list(&p)
				if len(jobs) == 0 {
					t.Errorf("%s, preview %d: no jobs", tc.name, preview)
				}
				for _, j := range jobs {
					whole := full[j.ID]
					if j.ArgsBytes != len(whole) {
						t.Errorf("%s, preview %d: job %d ArgsBytes %d, want %d", tc.name, preview, j.ID, j.ArgsBytes, len(whole))
					}
					if len(whole) <= preview {
						if j.ArgsTruncated || j.ArgsPreview != "" {
							t.Errorf("%s, preview %d: job %d with %d bytes of args is cut", tc.name, preview, j.ID, len(whole))
						}
						wantJSON(t, "Args", j.Args, whole)
						continue
					}
					cut := j.ArgsPreview
					if !j.ArgsTruncated || j.Args != nil || len(cut) > preview || len(cut) < preview-3 ||
						!utf8.ValidString(cut) || !strings.HasPrefix(string(whole), cut) {
						t.Errorf("%s, preview %d: job %d: ArgsTruncated %v, Args %d bytes, ArgsPreview %q...; "+
							"want true, nil, the first %d bytes or up to 3 fewer (whole characters) of %q...",
							tc.name, preview, j.ID, j.ArgsTruncated, len(j.Args), cut[:min(len(cut), 20)], preview, whole[:20])
					}
				}
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

// withTags sets the job's tags.
func withTags(tags ...string) jobMod { return func(p *store.JobInsertParams) { p.Tags = tags } }

// withArgs sets the job's args, a JSON object.
func withArgs(args string) jobMod {
	return func(p *store.JobInsertParams) { p.Args = json.RawMessage(args) }
}
