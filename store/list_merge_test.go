package store

import (
	"slices"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
)

func TestMergedListStates(t *testing.T) {
	k := []string{"k"}
	st := func(s ...kilntype.JobState) []kilntype.JobState { return s }
	for _, c := range []struct {
		name string
		p    JobListParams
		want []kilntype.JobState
	}{
		{"no kind or queue", JobListParams{}, nil},
		{"a kind", JobListParams{Kinds: k}, kilntype.JobStates()},
		{"a queue", JobListParams{Queues: k}, kilntype.JobStates()},
		{"a tag", JobListParams{Kinds: k, Tag: "t"}, nil},
		{"a text", JobListParams{Kinds: k, ArgsContains: "t"}, nil},
		{"one final state", JobListParams{Kinds: k, States: st(kilntype.JobStateCompleted)}, nil},
		{"in-flight states", JobListParams{Kinds: k, States: st(kilntype.JobStateRunning, kilntype.JobStateScheduled)}, nil},
		{"available", JobListParams{Kinds: k, States: st(kilntype.JobStateAvailable)}, st(kilntype.JobStateAvailable)},
		{"final states, once each", JobListParams{Kinds: k, States: st(kilntype.JobStateDiscarded, kilntype.JobStateCompleted,
			kilntype.JobStateDiscarded)}, st(kilntype.JobStateDiscarded, kilntype.JobStateCompleted)},
		{"an unknown state", JobListParams{Kinds: k, States: st(kilntype.JobStateAvailable, "bogus")}, nil},
	} {
		if got := MergedListStates(&c.p); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestMergedProbe(t *testing.T) {
	w := int64(MergedProbeWindow * 10)
	for _, c := range []struct {
		name           string
		p              JobListParams
		top            int64
		cursor, stopAt int64 // 0, 0: no probe
	}{
		{"newest first", JobListParams{Limit: 10}, 1000, 1001, 1001 - w},
		{"from a cursor", JobListParams{Limit: 10, Cursor: 500}, 1000, 500, 500 - w},
		{"near the first job", JobListParams{Limit: 10, Cursor: 50}, 1000, 50, 1},
		{"oldest first", JobListParams{Limit: 10, OrderAsc: true}, 7, 6, 6 + w},
		{"a stop within the window", JobListParams{Limit: 10, StopAt: 1000 - w + 5}, 1000, 0, 0},
		{"a stop past the window", JobListParams{Limit: 10, StopAt: 10}, 1000, 1001, 1001 - w},
		{"no job", JobListParams{Limit: 10}, 0, 0, 0},
		{"states", JobListParams{Limit: 10, States: []kilntype.JobState{kilntype.JobStateAvailable}}, 1000, 0, 0},
	} {
		got := MergedProbe(&c.p, c.top)
		switch {
		case got == nil && c.cursor != 0:
			t.Errorf("%s: no probe, want IDs %d to %d", c.name, c.cursor, c.stopAt)
		case got != nil && (got.Cursor != c.cursor || got.StopAt != c.stopAt):
			t.Errorf("%s: probe from %d to %d, want %d to %d", c.name, got.Cursor, got.StopAt, c.cursor, c.stopAt)
		}
	}
}
