package store

import (
	"math"
	"slices"

	"github.com/kilnjobs/kiln/kilntype"
)

// MergedListStates returns the states whose jobs a store's JobList reads
// state by state, each through its own index in ID order, merging them by
// ID, or nil when it reads them in one walk. Both stores merge a list with
// a kind or queue filter and without a tag or an args search, of every
// state (params.States nil) or of valid states that no one index holds in
// ID order (available jobs, several final states, final and in-flight
// states together): one walk of every job in ID order would read jobs of
// any state until the page fills (on 1,000,000 jobs, a kind of 0.1 %:
// 51,000 rows), where each state's index is read only as far as the page
// reaches. The states are returned once each, in params' order
// (kilntype.JobStates' order when nil).
func MergedListStates(params *JobListParams) []kilntype.JobState {
	if params.Tag != "" || params.ArgsContains != "" || (params.Kinds == nil && params.Queues == nil) {
		return nil
	}
	if params.States == nil {
		return kilntype.JobStates()
	}
	var states []kilntype.JobState
	for _, st := range params.States {
		if !st.Valid() {
			return nil
		}
		if !slices.Contains(states, st) {
			states = append(states, st)
		}
	}
	if InflightStates(states) || (len(states) == 1 && FinalStates(states)) {
		return nil
	}
	return states
}

// MergedAvailableBound is how many available jobs of a merged JobList's
// kinds and queues (see MergedListStates) a store reads and sorts by ID
// at most, for a page of limit jobs among all jobs; past it, the store
// walks every job in ID order for them instead. The available jobs are
// indexed by queue and kind (kiln_job_claim_kind; on SQLite
// kiln_job_claim_untagged and kiln_job_claim_fair), not by ID: reading and
// sorting the filters' entries costs one entry per such job however few
// the page needs, and walking every job in ID order, checking each, costs
// about limit × all ÷ those jobs rows to fill a page. At
// sqrt(limit × all) (and at least limit) a page reads at most about that
// many entries or rows either way.
func MergedAvailableBound(limit, all int) int {
	return max(int(math.Sqrt(float64(limit)*float64(all))), limit)
}

// AvailableWalk is how a store's merged JobList (see MergedListStates)
// reads the available jobs of its kinds and queues.
type AvailableWalk int

const (
	// AvailableNone reads none (a list without available jobs; tests).
	AvailableNone AvailableWalk = iota
	// AvailableSorted reads the filters' entries of kiln_job_claim_kind
	// (on SQLite of kiln_job_claim_untagged and kiln_job_claim_fair) and
	// sorts them by ID.
	AvailableSorted
	// AvailableInline walks every job in ID order, checking each.
	AvailableInline
)

// ChooseAvailableWalk chooses how a merged JobList of params reads the
// available jobs, from counts (the store's JobCountByQueueState) and, when
// params has a kind filter, count: the filters' available jobs in
// kiln_job_claim_kind (SQLite: its two claim-order indexes), counted up
// to limit. Up to MergedAvailableBound
// of them are sorted (AvailableSorted), more are walked
// (AvailableInline). Without a kind filter the counters have the queues'
// available jobs, and count is not called. None counted still reads them
// sorted (nothing, at the cost of a seek per queue): a job that becomes
// available between the count and the list's statement is listed, and
// counters that miss jobs make a page slower, never wrong. It returns
// count's error.
func ChooseAvailableWalk(counts []JobCount, params *JobListParams, limit int, count func(limit int) (int, error)) (AvailableWalk, error) {
	all, queued := MergedAvailableCounts(counts, params.Queues)
	bound := MergedAvailableBound(limit, all)
	if params.Kinds == nil {
		if queued > bound {
			return AvailableInline, nil
		}
		return AvailableSorted, nil
	}
	n, err := count(bound + 1)
	if err != nil {
		return AvailableNone, err
	}
	if n <= bound {
		return AvailableSorted, nil
	}
	return AvailableInline, nil
}

// MergedAvailableCounts returns, from the counters of each queue and state
// (a store's JobCountByQueueState), how many jobs there are in all and how
// many are available in queues (nil: in every queue), for a merged
// JobList's choice of how to read the available jobs (see
// MergedAvailableBound). Counters that miss jobs (PostgreSQL's count the
// store's own statements, not rows written by hand) make a page slower,
// never wrong: both ways of reading the available jobs list the same.
func MergedAvailableCounts(counts []JobCount, queues []string) (all, available int) {
	for _, c := range counts {
		all += c.Count
		if c.State == kilntype.JobStateAvailable && (queues == nil || slices.Contains(queues, c.Queue)) {
			available += c.Count
		}
	}
	return all, available
}

// MergedProbeWindow is how many IDs past the cursor (times the page's
// limit) a store's JobList of a kind or queue over every state first
// walks in ID order, before it merges the states' indexes (see
// MergedListStates): when that window holds a full page, as it does for
// a filter of more than one job in 16 among the newest, the page is read
// at the cost of a plain walk of at most 16 × limit rows, and the merge,
// with its counts, is left for the filters that are rare.
const MergedProbeWindow = 16

// MergedProbe returns the params of that first walk for params, whose
// first page starts at top (the newest job's ID when newest first, the
// oldest's when oldest first; 0: no job), or nil when there is none to
// make (no job, a merged list of chosen states, or params' own range
// already within the window).
func MergedProbe(params *JobListParams, top int64) *JobListParams {
	if params.States != nil || top == 0 {
		return nil
	}
	window := int64(MergedProbeWindow * listLimit(params.Limit))
	p := *params
	if p.OrderAsc {
		if p.Cursor == 0 {
			p.Cursor = top - 1
		}
		stop := p.Cursor + window
		if p.StopAt != 0 && p.StopAt <= stop {
			return nil
		}
		p.StopAt = stop
		return &p
	}
	if p.Cursor == 0 {
		p.Cursor = top + 1
	}
	stop := max(p.Cursor-window, 1)
	if p.StopAt != 0 && p.StopAt >= stop {
		return nil
	}
	p.StopAt = stop
	return &p
}

// listLimit applies DefaultListLimit and MaxListLimit to limit.
func listLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultListLimit
	case limit > MaxListLimit:
		return MaxListLimit
	}
	return limit
}
