package store

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// TestCutoffMatchesRetentionGroups checks, on random rules, that Cutoff
// gives each state, kind and queue the cut-off of the RetentionGroups
// range the job falls in (zero when none), and that Cutoffs holds every
// such cut-off, latest first, once.
func TestCutoffMatchesRetentionGroups(t *testing.T) {
	t.Parallel()
	base := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(1, 2))
	states := []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded}
	kinds, queues := []string{"a", "b", "c"}, []string{"q1", "q2", "q3", "q4"}
	cutoff := func() time.Time {
		if r.IntN(4) == 0 {
			return time.Time{} // forever
		}
		return base.Add(-time.Duration(r.IntN(5)) * time.Hour)
	}
	for range 2000 {
		p := &JobDeleteFinishedParams{CompletedBefore: cutoff(), CancelledBefore: cutoff(), DiscardedBefore: cutoff()}
		for range r.IntN(6) {
			rule := RetentionCutoff{State: states[r.IntN(3)], Before: cutoff()}
			if r.IntN(2) == 0 {
				rule.Kind = kinds[r.IntN(len(kinds))]
			}
			if r.IntN(2) == 0 {
				rule.Queue = queues[r.IntN(len(queues))]
			}
			if !slices.ContainsFunc(p.Rules, func(o RetentionCutoff) bool {
				return o.State == rule.State && o.Kind == rule.Kind && o.Queue == rule.Queue
			}) {
				p.Rules = append(p.Rules, rule)
			}
		}
		all := p.Cutoffs()
		if !slices.IsSortedFunc(all, func(a, b time.Time) int { return b.Compare(a) }) ||
			len(slices.Compact(slices.Clone(all))) != len(all) {
			t.Fatalf("Cutoffs %v: want distinct, latest first", all)
		}
		for _, state := range states {
			for _, kind := range kinds {
				groups := p.RetentionGroups(state, kind)
				for i, g := range groups {
					for _, h := range groups[:i] {
						if g.Before.Equal(h.Before) {
							t.Fatalf("rules %+v: RetentionGroups(%s, %s) = %+v: two groups with cut-off %v", p, state, kind, groups, g.Before)
						}
					}
				}
				for _, queue := range queues {
					var want time.Time
					matched := 0
					for _, g := range groups {
						if slices.Contains(g.Queues, queue) == g.In {
							want = g.Before
							matched++
						}
					}
					if matched > 1 {
						t.Fatalf("rules %+v: %s of %s in queue %s is in %d of RetentionGroups %+v, want at most 1", p, state, kind, queue, matched, groups)
					}
					// The precedence, written out again: kind and queue,
					// kind, queue, state.
					if oracle := cutoffByPrecedence(p, state, kind, queue); !oracle.Equal(want) {
						t.Fatalf("rules %+v: %s of %s in queue %s: RetentionGroups' cut-off %v, want %v", p, state, kind, queue, want, oracle)
					}
					got := p.Cutoff(state, kind, queue)
					if !got.Equal(want) {
						t.Fatalf("rules %+v: Cutoff(%s, %s, %s) = %v, RetentionGroups' %v", p, state, kind, queue, got, want)
					}
					if !got.IsZero() && !slices.ContainsFunc(all, got.Equal) {
						t.Fatalf("rules %+v: Cutoffs %v lack %v", p, all, got)
					}
				}
			}
		}
		if !p.Cutoff(kilntype.JobStateRunning, "a", "q1").IsZero() {
			t.Fatal("Cutoff of a running job, want zero")
		}
	}
}

// cutoffByPrecedence resolves the cut-off of a job by walking the rule
// levels from the most specific, independently of Cutoff.
func cutoffByPrecedence(p *JobDeleteFinishedParams, state kilntype.JobState, kind, queue string) time.Time {
	for _, level := range [][2]string{{kind, queue}, {kind, ""}, {"", queue}, {"", ""}} {
		for _, r := range p.Rules {
			if r.State == state && r.Kind == level[0] && r.Queue == level[1] {
				return r.Before
			}
		}
	}
	switch state {
	case kilntype.JobStateCompleted:
		return p.CompletedBefore
	case kilntype.JobStateCancelled:
		return p.CancelledBefore
	}
	return p.DiscardedBefore
}
