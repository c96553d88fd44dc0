package recurring

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/schedule"
	"github.com/kilnjobs/kiln/store"
)

func TestPlanOccurrencesDropped(t *testing.T) {
	hourly, err := schedule.Parse("0 * * * *", "")
	if err != nil {
		t.Fatal(err)
	}
	at := func(h int) time.Time { return time.Date(2030, 1, 1, h, 0, 0, 0, time.UTC) }
	late := at(10).Add(30 * time.Second) // 10:00 on time, earlier ones missed
	for _, tc := range []struct {
		name   string
		now    time.Time
		policy kilntype.MisfirePolicy
		max    int
		want   Dropped
	}{
		{"skip drops every missed", at(10).Add(30 * time.Minute), kilntype.MisfireSkip, 0, Dropped{at(7), at(10), 4}},
		{"run once drops all but the latest", at(10).Add(30 * time.Minute), kilntype.MisfireRunOnce, 0, Dropped{at(7), at(9), 3}},
		{"run once with an on-time one drops every missed", late, kilntype.MisfireRunOnce, 0, Dropped{at(7), at(9), 3}},
		{"run all drops beyond its cap", at(10).Add(30 * time.Minute), kilntype.MisfireRunAll, 1, Dropped{at(7), at(9), 3}},
		{"run all within its cap drops none", at(10).Add(30 * time.Minute), kilntype.MisfireRunAll, 100, Dropped{}},
		{"on time drops none", at(7), kilntype.MisfireSkip, 0, Dropped{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanOccurrences(hourly, at(7), tc.now, time.Minute, tc.policy, tc.max).Dropped
			if got.Count != tc.want.Count || !got.First.Equal(tc.want.First) || !got.Last.Equal(tc.want.Last) {
				t.Errorf("dropped %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestSkipsAreRecorded checks, with an injected clock, that the scheduler
// records the occurrences it gives no job, with the reason and policy:
// missed ones dropped by the misfire policy as one run, and each one the
// overlap policy skips.
func TestSkipsAreRecorded(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, filepath.Join(t.TempDir(), "kiln.db"))
	add := func(id, spec string, misfire kilntype.MisfirePolicy, overlap kilntype.OverlapPolicy) {
		t.Helper()
		_, _, err := st.RecurringUpsert(ctx, &store.RecurringUpsertParams{Now: base, Row: &kilntype.RecurringRow{
			ID: id, Schedule: spec, Kind: "k", Args: []byte(`{}`), Queue: id, Priority: 1, MaxAttempts: 1,
			Metadata: []byte(`{}`), Overlap: overlap, Misfire: misfire, MisfireMax: 100,
			NextRunAt: base, CreatedAt: base, UpdatedAt: base,
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	// 03:04 on time at the first pass; 03:06, 03:08 and 03:10 missed at
	// the second, at 03:11:30.
	add("skip", "*/2 * * * *", kilntype.MisfireSkip, kilntype.OverlapAllow)
	add("once", "*/2 * * * *", kilntype.MisfireRunOnce, kilntype.OverlapAllow)
	// Every minute, one at a time: its first run is never claimed, so
	// the next occurrences find it unfinished.
	add("busy", "* * * * *", kilntype.MisfireSkip, kilntype.OverlapSkip)

	now := base
	sched := newScheduler(st, func() time.Time { return now })
	if err := sched.pass(ctx); err != nil { // busy's 03:04 runs
		t.Fatal(err)
	}
	now = base.Add(7*time.Minute + 30*time.Second)
	if err := sched.pass(ctx); err != nil {
		t.Fatal(err)
	}
	at := func(m int) time.Time { return base.Add(time.Duration(m-4) * time.Minute) }
	skips := func(id string) []*store.RecurringSkip {
		t.Helper()
		got, err := st.RecurringSkipList(ctx, &store.RecurringSkipListParams{ID: id, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(id string, got []*store.RecurringSkip, want ...store.RecurringSkip) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d skips, want %d: %+v", id, len(got), len(want), got)
		}
		for i, w := range want {
			g := got[i]
			if !g.At.Equal(w.At) || !g.Through.Equal(w.Through) || g.Count != w.Count || g.Reason != w.Reason ||
				g.Policy != w.Policy || !g.RecordedAt.Equal(now) {
				t.Errorf("%s: skip %d is %+v, want %+v recorded at %v", id, i, g, w, now)
			}
		}
	}
	check("skip", skips("skip"), store.RecurringSkip{At: at(6), Through: at(10), Count: 3, Reason: store.SkipMisfire, Policy: "skip"})
	check("once", skips("once"), store.RecurringSkip{At: at(6), Through: at(8), Count: 2, Reason: store.SkipMisfire, Policy: "run_once"})
	// busy: 03:05 to 03:10 missed (dropped by misfire skip), 03:11 on time
	// but its 03:04 run is unfinished: skipped for overlap.
	check("busy", skips("busy"),
		store.RecurringSkip{At: at(11), Through: at(11), Count: 1, Reason: store.SkipOverlap, Policy: "skip"},
		store.RecurringSkip{At: at(5), Through: at(10), Count: 6, Reason: store.SkipMisfire, Policy: "skip"})
	if n := len(entryJobs(t, st, "busy")); n != 1 {
		t.Errorf("busy has %d jobs, want its first", n)
	}
}
