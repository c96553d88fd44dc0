package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// RetentionStore is the part of Store that keeps the retention rules set
// at run time, so that the cleaner of whichever process leads obeys them.
// The cleaner reads them on every pass and merges them over the rules of
// its Config; it deletes through JobDeleteFinished with
// JobDeleteFinishedParams.Rules.
type RetentionStore interface {
	// RetentionList returns every stored rule, ordered by state, kind and
	// queue (bytewise), with Source "database" and UpdatedAt set.
	RetentionList(ctx context.Context) ([]*kilntype.RetentionRule, error)
	// RetentionSet stores params.Rule, replacing the stored rule of the
	// same state, kind and queue, with UpdatedAt params.Now. The rule must
	// pass RetentionRule.Validate.
	RetentionSet(ctx context.Context, params *RetentionSetParams) error
	// RetentionDelete deletes the stored rule of params' state, kind and
	// queue, and reports whether there was one.
	RetentionDelete(ctx context.Context, params *RetentionDeleteParams) (bool, error)
}

// RetentionSetParams stores one retention rule.
type RetentionSetParams struct {
	Rule kilntype.RetentionRule
	Now  time.Time
}

// RetentionDeleteParams names the stored rule to delete.
type RetentionDeleteParams struct {
	State kilntype.JobState
	Kind  string
	Queue string
}

// RetentionCutoff is a retention rule resolved at the cleaner's time: the
// jobs of State that it matches (Kind and Queue, each empty for any) and
// that were finalized before Before are deleted; a zero Before keeps them
// (KeepForever).
type RetentionCutoff struct {
	State  kilntype.JobState
	Kind   string
	Queue  string
	Before time.Time
}

// RetentionGroup is one range that JobDeleteFinished deletes from: the jobs of one state and kind, finalized before
// Before, whose queue is one of Queues (In) or none of them (!In; an empty
// Queues then means every queue).
type RetentionGroup struct {
	Queues []string
	In     bool
	Before time.Time
}

// CleanedStates returns the final states that p can delete jobs of, in
// the order completed, cancelled, discarded: those whose StateCutoff is
// set or that one of p.Rules with a cut-off names. A store reads the kinds
// present among the finalized jobs of each, and deletes from each kind's
// RetentionGroups.
func (p *JobDeleteFinishedParams) CleanedStates() []kilntype.JobState {
	var out []kilntype.JobState
	for _, s := range []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded} {
		if !p.StateCutoff(s).IsZero() ||
			slices.ContainsFunc(p.Rules, func(r RetentionCutoff) bool { return r.State == s && !r.Before.IsZero() }) {
			out = append(out, s)
		}
	}
	return out
}

// StateCutoff returns the cut-off of state's jobs that no rule narrower
// than the state matches: p.Rules' rule for the state with empty Kind and
// Queue if there is one, else the field of p for the state.
func (p *JobDeleteFinishedParams) StateCutoff(state kilntype.JobState) time.Time {
	for _, r := range p.Rules {
		if r.State == state && r.Kind == "" && r.Queue == "" {
			return r.Before
		}
	}
	switch state {
	case kilntype.JobStateCompleted:
		return p.CompletedBefore
	case kilntype.JobStateCancelled:
		return p.CancelledBefore
	case kilntype.JobStateDiscarded:
		return p.DiscardedBefore
	}
	return time.Time{}
}

// RetentionGroups returns the ranges to delete from among the jobs of
// state and kind under p's cut-offs, where each job follows the most
// specific rule that matches it, as Cutoff resolves it: one group per
// distinct cut-off of the queues that rules of the state name (alone or
// with kind), other than the cut-off of the queues no rule names, and one
// for every other queue. No two groups share a cut-off, and groups that
// keep their jobs forever are left out. The ranges do not overlap.
func (p *JobDeleteFinishedParams) RetentionGroups(state kilntype.JobState, kind string) []RetentionGroup {
	// Named queues, grouped by cut-off; a queue no rule names follows the
	// cut-off of the empty queue name, which no rule names either (a
	// rule's empty Queue matches every queue).
	// A named queue whose cut-off is the others' stays with them, so that
	// no two groups share a cut-off (a store reads each group's range).
	others := p.Cutoff(state, kind, "")
	byCutoff := map[time.Time][]string{}
	all := []string{} // never nil: a backend passes it as an array
	for _, r := range p.Rules {
		if r.State != state || r.Queue == "" || (r.Kind != "" && r.Kind != kind) || slices.Contains(all, r.Queue) {
			continue
		}
		if b := p.Cutoff(state, kind, r.Queue); !b.Equal(others) {
			all = append(all, r.Queue)
			byCutoff[b] = append(byCutoff[b], r.Queue)
		}
	}
	var out []RetentionGroup
	for b, qs := range byCutoff {
		if b.IsZero() {
			continue
		}
		slices.Sort(qs)
		out = append(out, RetentionGroup{Queues: qs, In: true, Before: b})
	}
	slices.SortFunc(out, func(a, b RetentionGroup) int { return strings.Compare(a.Queues[0], b.Queues[0]) })
	if !others.IsZero() {
		slices.Sort(all)
		out = append(out, RetentionGroup{Queues: all, Before: others})
	}
	return out
}

// MergeRetention returns the retention rules in effect: config's (Source
// "config" unless set), with each stored rule replacing the config rule of
// its key or added, ordered by state, kind and queue (bytewise). Neither
// input is modified.
func MergeRetention(config []kilntype.RetentionRule, stored []*kilntype.RetentionRule) []*kilntype.RetentionRule {
	byKey := make(map[string]*kilntype.RetentionRule, len(config)+len(stored))
	for _, r := range config {
		r := r
		if r.Source == "" {
			r.Source = "config"
		}
		byKey[r.Key()] = &r
	}
	for _, r := range stored {
		byKey[r.Key()] = r
	}
	out := make([]*kilntype.RetentionRule, 0, len(byKey))
	for _, r := range byKey {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *kilntype.RetentionRule) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// SetRetention sets p's cut-offs for rules at now: a rule with empty Kind
// and Queue sets its state's field (CompletedBefore and its siblings), any
// other becomes one of p.Rules. A rule that keeps forever gives a zero
// cut-off; a state without a rule keeps its field.
func (p *JobDeleteFinishedParams) SetRetention(rules []*kilntype.RetentionRule, now time.Time) {
	p.Rules = p.Rules[:0]
	for _, r := range rules {
		var before time.Time
		if !r.Forever() {
			before = now.Add(-r.Keep)
		}
		if r.Kind != "" || r.Queue != "" {
			p.Rules = append(p.Rules, RetentionCutoff{State: r.State, Kind: r.Kind, Queue: r.Queue, Before: before})
			continue
		}
		switch r.State {
		case kilntype.JobStateCompleted:
			p.CompletedBefore = before
		case kilntype.JobStateCancelled:
			p.CancelledBefore = before
		case kilntype.JobStateDiscarded:
			p.DiscardedBefore = before
		}
	}
}

// Cutoff returns the cut-off of a job of state, kind and queue under p:
// that of the most specific rule that matches it (kind and queue, kind,
// queue, then the state's, see StateCutoff), the one RetentionGroups puts
// the job's range under. A zero time keeps the job, as does any state
// that is not final. It is the one place where the rules' precedence is
// written: an empty queue, which no job has, gives the cut-off of the
// queues that no rule names.
func (p *JobDeleteFinishedParams) Cutoff(state kilntype.JobState, kind, queue string) time.Time {
	if !state.Finalized() {
		return time.Time{}
	}
	var kindQueueRule, kindRule, queueRule *time.Time
	for i := range p.Rules {
		r := &p.Rules[i]
		switch {
		case r.State != state:
		case r.Kind == kind && r.Queue == queue:
			kindQueueRule = &r.Before
		case r.Kind == kind && r.Queue == "":
			kindRule = &r.Before
		case r.Kind == "" && r.Queue == queue:
			queueRule = &r.Before
		}
	}
	switch {
	case kindQueueRule != nil:
		return *kindQueueRule
	case kindRule != nil:
		return *kindRule
	case queueRule != nil:
		return *queueRule
	}
	return p.StateCutoff(state)
}

// Cutoffs returns the distinct cut-offs, other than zero, that p deletes
// jobs under, latest first.
func (p *JobDeleteFinishedParams) Cutoffs() []time.Time {
	var out []time.Time
	add := func(t time.Time) {
		if !t.IsZero() && !slices.ContainsFunc(out, t.Equal) {
			out = append(out, t)
		}
	}
	for _, s := range []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded} {
		add(p.StateCutoff(s))
	}
	for _, r := range p.Rules {
		if r.State.Finalized() {
			add(r.Before)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return b.Compare(a) })
	return out
}

// DefaultCleanReadMax is the number of jobs that a call of
// JobDeleteFinished with Progress reads, at most, when ReadMax is 0.
const DefaultCleanReadMax = 10000

// DefaultCleanSweepEvery is the least time from the start of one sweep
// (see CleanProgress) to the next when SweepEvery is 0.
const DefaultCleanSweepEvery = time.Hour

// CleanSweepLimit is how many times SweepEvery may pass between two
// sweeps at most (see CleanProgress): with the default, a day.
const CleanSweepLimit = 24

// CleanProgress is a cleaner's place in the jobs table between calls of
// JobDeleteFinished, for a store that finds old finished jobs by reading
// ID ranges of the table (job IDs grow with time) rather than through an
// index of finalized jobs. The zero value starts from the first job. It
// is the caller's: a store reads it and saves into it, and it is not safe
// for concurrent use.
//
// Each distinct cut-off of the call (JobDeleteFinishedParams.Cutoffs,
// latest first) has a front: the ID below which every job has been read
// once since it was created before that cut-off (a job created later
// cannot have finished before it). A call moves each front on over the
// jobs created before its cut-off and deletes those due, whatever front
// reads them. A job that was not due when its front passed (it was still
// running or scheduled, or finished late, or was locked) is left to the
// sweep: a read of every job below the fronts, which begins at most once
// per SweepEvery, and only once the fronts have read, since the last
// sweep began, as many jobs as that sweep read (so that sweeps cost no
// more than the fronts), or once CleanSweepLimit times SweepEvery passed
// (so that a quiet table is swept too). Such a job is deleted by the first
// sweep after it is due: up to CleanSweepLimit times SweepEvery later
// than it would be otherwise, wherever the jobs kept below the fronts
// outnumber what the fronts read in SweepEvery.
type CleanProgress struct {
	// Fronts holds the next ID of each front, latest cut-off first; a
	// call adds the fronts of new cut-offs (from the first job) and drops
	// those past the number of cut-offs it has. A store may bound the
	// number of fronts (PostgreSQL: 4), leaving the jobs of the earliest
	// cut-offs past its bound to the sweep.
	Fronts []int64
	// Sweep is the next ID that the sweep under way reads (Sweeping).
	Sweep    int64
	Sweeping bool
	// SweptAt is when the last sweep began; zero before the first.
	SweptAt time.Time
	// SweepRead counts the jobs that the last sweep read (so far, while
	// it is under way; negative while the fronts' first pass, which
	// counts as the first sweep, is under way), FrontRead those that the
	// fronts read since it began (since the first pass ended).
	SweepRead int64
	FrontRead int64
	// More reports whether the last call stopped, at Max deletions or at
	// its read bound, before every front reached the jobs created after
	// its cut-off and before the sweep due ended: a cleaner calls again at
	// once.
	More bool
}
