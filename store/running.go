package store

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/kilnjobs/kiln/kilntype"
)

// MaxRunningKeys bounds JobRunningCountParams.MaxKeys: how many partition
// keys of one kind JobRunningCount returns.
const MaxRunningKeys = 100

// MaxRunningKinds bounds how many kinds one JobRunningCount may name, in
// Kinds and in PartitionKinds each.
const MaxRunningKinds = 1000

// JobRunningCountParams selects what JobRunningCount counts.
type JobRunningCountParams struct {
	// Kinds are the kinds whose running jobs are counted, at most
	// MaxRunningKinds.
	Kinds []string
	// PartitionKinds are the kinds whose running jobs are counted per
	// partition key, at most MaxRunningKinds.
	PartitionKinds []string
	// MaxKeys is how many of each partition kind's busiest keys are
	// returned: 1 to MaxRunningKeys when PartitionKinds is not empty.
	MaxKeys int
}

// Validate returns an error when p names more than MaxRunningKinds kinds
// (in Kinds or in PartitionKinds), or, with PartitionKinds, when MaxKeys
// is not within 1..MaxRunningKeys. Every store's JobRunningCount calls it
// first.
func (p *JobRunningCountParams) Validate() error {
	if n := max(len(p.Kinds), len(p.PartitionKinds)); n > MaxRunningKinds {
		return fmt.Errorf("count running jobs: %d kinds and %d partition kinds; at most %d each",
			len(p.Kinds), len(p.PartitionKinds), MaxRunningKinds)
	}
	if len(p.PartitionKinds) > 0 && (p.MaxKeys < 1 || p.MaxKeys > MaxRunningKeys) {
		return fmt.Errorf("count running jobs: %d keys per kind; want 1 to %d", p.MaxKeys, MaxRunningKeys)
	}
	return nil
}

// JobRunningCounts is what JobRunningCount returns.
type JobRunningCounts struct {
	// ByKind is how many jobs of each kind of the params' Kinds run, in
	// every process; kinds with none are absent.
	ByKind map[string]int
	// ByKey is, for each kind of the params' PartitionKinds that has a
	// running job with a key, its running jobs per key; kinds with none
	// are absent.
	ByKey map[string]*PartitionRunning
}

// PartitionRunning is how a kind's running jobs spread over its partition
// keys.
type PartitionRunning struct {
	// Keys is how many keys have a running job.
	Keys int
	// Busiest are the keys with the most running jobs, most first (ties
	// in key byte order), at most the params' MaxKeys.
	Busiest []kilntype.KeyRunning
}

// RunningCountRow is one row of a store's JobRunningCount statement:
// without Key, Kind's running jobs (N); with one, Key's running jobs (N),
// one of the kind's busiest keys, of Keys that have a running job.
type RunningCountRow struct {
	Kind, Key string
	N, Keys   int
}

// NewJobRunningCounts returns the JobRunningCounts of a JobRunningCount
// statement's rows, the busiest keys of each kind sorted most first, ties
// in key byte order. Both stores build their answer with it.
func NewJobRunningCounts(rows []RunningCountRow) *JobRunningCounts {
	out := &JobRunningCounts{ByKind: map[string]int{}, ByKey: map[string]*PartitionRunning{}}
	for _, r := range rows {
		if r.Key == "" {
			out.ByKind[r.Kind] = r.N
			continue
		}
		pr := out.ByKey[r.Kind]
		if pr == nil {
			pr = &PartitionRunning{Keys: r.Keys}
			out.ByKey[r.Kind] = pr
		}
		pr.Busiest = append(pr.Busiest, kilntype.KeyRunning{Key: r.Key, Running: r.N})
	}
	for _, pr := range out.ByKey {
		slices.SortFunc(pr.Busiest, func(a, b kilntype.KeyRunning) int {
			return cmp.Or(cmp.Compare(b.Running, a.Running), cmp.Compare(a.Key, b.Key))
		})
	}
	return out
}
