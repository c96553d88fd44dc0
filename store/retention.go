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
// specific rule that matches it (kind and queue, kind, queue, then the
// state's cut-off, see StateCutoff): one group per distinct cut-off of the
// queues that rules name, and one for every other queue. Groups that keep
// their jobs forever are left out. The ranges do not overlap.
func (p *JobDeleteFinishedParams) RetentionGroups(state kilntype.JobState, kind string) []RetentionGroup {
	var (
		kindRule   *time.Time
		kindQueues = map[string]time.Time{}
		queueRules = map[string]time.Time{}
	)
	for _, r := range p.Rules {
		if r.State != state {
			continue
		}
		switch {
		case r.Kind == kind && r.Queue == "":
			kindRule = &r.Before
		case r.Kind == kind && r.Queue != "":
			kindQueues[r.Queue] = r.Before
		case r.Kind == "" && r.Queue != "":
			queueRules[r.Queue] = r.Before
		}
	}
	named := kindQueues
	base := p.StateCutoff(state)
	if kindRule != nil {
		base = *kindRule
	} else {
		named = map[string]time.Time{}
		for q, b := range queueRules {
			named[q] = b
		}
		for q, b := range kindQueues {
			named[q] = b
		}
	}
	// Named queues, grouped by cut-off.
	byCutoff := map[time.Time][]string{}
	all := make([]string, 0, len(named)) // never nil: a backend passes it as an array
	for q, b := range named {
		byCutoff[b] = append(byCutoff[b], q)
		all = append(all, q)
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
	if !base.IsZero() {
		slices.Sort(all)
		out = append(out, RetentionGroup{Queues: all, Before: base})
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
