package store

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/kilnjobs/kiln/kilntype"
)

// PartitionClaim is how a claim takes the jobs of one kind of
// JobClaimParams.Partitioned.
type PartitionClaim struct {
	// MaxRunning, if positive, caps the jobs of the kind with the same
	// partition key that run at once across every process sharing the
	// store (kiln's PartitionMaxConcurrency). Jobs without a key ("") are
	// not capped. Zero claims the keys in rotation without a cap (kiln's
	// PartitionFair).
	MaxRunning int
}

// PartitionedKinds returns the kinds of p.Partitioned, sorted.
func (p *JobClaimParams) PartitionedKinds() []string {
	return slices.Sorted(maps.Keys(p.Partitioned))
}

// WithoutPartitioned returns a copy of p that excludes the partitioned
// kinds (a KindLimits entry of 0 each) and takes at most max jobs: the
// claim of the other kinds.
func (p *JobClaimParams) WithoutPartitioned(max int) *JobClaimParams {
	out := *p
	out.Max = max
	out.Partitioned = nil
	out.KindLimits = make(map[string]int, len(p.KindLimits)+len(p.Partitioned))
	maps.Copy(out.KindLimits, p.KindLimits)
	for kind := range p.Partitioned {
		out.KindLimits[kind] = 0
	}
	return out.withKinds()
}

// withKinds drops from Kinds those excluded by a limit of 0, so that a
// claim of only excluded kinds claims nothing.
func (p *JobClaimParams) withKinds() *JobClaimParams {
	if p.AnyKind {
		return p
	}
	kinds := make([]string, 0, len(p.Kinds))
	for _, k := range p.Kinds {
		if l, ok := p.KindLimits[k]; !ok || l > 0 {
			kinds = append(kinds, k)
		}
	}
	p.Kinds = kinds
	return p
}

// Claims reports whether the claim may take jobs of kind: it is among
// Kinds (or AnyKind is set).
func (p *JobClaimParams) Claims(kind string) bool {
	return p.AnyKind || slices.Contains(p.Kinds, kind)
}

// PartitionSource is what ClaimPartitioned needs of a backend to claim the
// jobs of one kind of one queue by partition key, within the claim's
// transaction (and, when keys are capped, under its lock of the kind).
type PartitionSource interface {
	// Keys returns up to n partition keys, other than "", that have
	// available jobs of the kind in the queue, in byte order after after
	// ("" starts from the first), one index seek each.
	Keys(ctx context.Context, after string, n int) ([]string, error)
	// Running returns the kind's running jobs per partition key (keys
	// with none may be absent, "" is not counted), in every process.
	Running(ctx context.Context) (map[string]int, error)
	// Take claims, for each keys[i], up to takes[i] of its due available
	// jobs (in priority, then ScheduledAt, then ID order), and up to
	// empty of the due available jobs without a key among the first
	// window of the kind in claim order, skipping jobs other claims hold;
	// it returns the claimed jobs, running.
	Take(ctx context.Context, keys []string, takes []int, empty, window int) ([]*kilntype.JobRow, error)
}

// maxPartitionRounds bounds the rounds of ClaimPartitioned: each one is
// one Keys and one Take call, which a backend runs as a fixed number of
// statements however many keys they name (one and one on PostgreSQL; on
// SQLite one, and a read and an UPDATE).
const maxPartitionRounds = 8

// maxPartitionKeys bounds the keys one round of ClaimPartitioned visits.
const maxPartitionKeys = 1000

// ClaimPartitioned claims up to want jobs of one kind from src by
// partition key, starting after the key cursor, and returns them with the
// cursor the next claim of the queue and kind starts after.
//
// It visits the keys in byte order from the cursor, wrapping around to
// the first key (and the jobs without a key, visited as the first key of
// each rotation) once past the last, and takes one job per key in the
// first rotation of the claim; later rotations of the same claim (when
// fewer keys have jobs than the claim wants) take an equal share of what
// is still wanted per key. A key with maxRunning or more jobs running
// (maxRunning > 0) is passed over, and one with fewer gets at most the
// difference. The claim ends when it has want jobs, when a whole
// rotation took nothing, or after maxPartitionRounds rounds.
//
// Hence the bound on waiting: a key with a due job and room under
// maxRunning gets a job in the claims of one process, at the latest, once
// that process's claims have taken ceil(E / M) times, where E is the
// number of keys with due jobs and M the jobs each claim takes: the
// cursor moves past at least M keys with due jobs per claim (fewer only
// when a concurrent claim holds a key's jobs), whatever the number of
// jobs each key has queued. The jobs of one key run in claim order.
func ClaimPartitioned(ctx context.Context, src PartitionSource, cursor string, want, maxRunning int) ([]*kilntype.JobRow, string, error) {
	if want <= 0 {
		return nil, cursor, nil
	}
	var running map[string]int
	if maxRunning > 0 {
		var err error
		if running, err = src.Running(ctx); err != nil {
			return nil, cursor, err
		}
	}
	room := func(key string) int {
		if maxRunning <= 0 {
			return want
		}
		return max(maxRunning-running[key], 0)
	}
	var (
		claimed     []*kilntype.JobRow
		share       = 1 // jobs per key in this rotation
		seen        int // keys with jobs visited in this rotation
		took        int // jobs taken in this rotation
		emptyVisits = cursor == ""
		whole       = cursor == "" // whether this rotation started at the first key
	)
	for round := 0; round < maxPartitionRounds && len(claimed) < want; round++ {
		need := want - len(claimed)
		n := min(max(need, 1)*2, maxPartitionKeys)
		keys, err := src.Keys(ctx, cursor, n)
		if err != nil {
			return claimed, cursor, err
		}
		var (
			visit []string
			takes []int
			sum   int
			last  = cursor
		)
		empty := 0
		if emptyVisits {
			empty = min(share, need)
			sum += empty
			emptyVisits = false
		}
		for _, k := range keys {
			if sum >= need {
				break
			}
			last = k
			t := min(share, room(k), need-sum)
			if t > 0 {
				visit, takes = append(visit, k), append(takes, t)
				sum += t
			}
		}
		jobs, err := src.Take(ctx, visit, takes, empty, max(need*4, 64))
		if err != nil {
			return claimed, cursor, err
		}
		for _, j := range jobs {
			if j.Partition != "" && running != nil {
				running[j.Partition]++
			}
		}
		claimed = append(claimed, jobs...)
		took += len(jobs)
		seen += len(keys)
		cursor = last
		if len(keys) < n && (len(keys) == 0 || last == keys[len(keys)-1]) {
			// Past the last key: the rotation is over.
			if took == 0 && whole {
				break
			}
			cursor, emptyVisits, whole = "", true, true
			share = max(1, ceilDiv(want-len(claimed), max(seen, 1)))
			seen, took = 0, 0
		}
	}
	return claimed, cursor, nil
}

// ceilDiv returns a / b rounded up, for positive b.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// PartitionCursors keeps, per queue and kind, the partition key after
// which a backend's next partitioned claim starts, and whose turn it is
// to go first in a claim of partitioned and other kinds (InTurn). The
// zero value is ready; it is safe for concurrent use.
type PartitionCursors struct {
	// mu guards byKind.
	mu     sync.Mutex
	byKind map[[2]string]string
	turn   atomic.Uint64
}

// InTurn runs partitioned and others, the two parts of a claim of
// partitioned and other kinds, one after the other, stopping at the first
// error; which goes first alternates from call to call, so that neither
// part takes a claim's Max before the other every time.
func (c *PartitionCursors) InTurn(partitioned, others func() error) error {
	if c.turn.Add(1)%2 == 0 {
		partitioned, others = others, partitioned
	}
	if err := partitioned(); err != nil {
		return err
	}
	return others()
}

// ClaimPartitionedKinds claims by partition key (ClaimPartitioned), for
// each partitioned kind that p claims, in the order of PartitionedKinds,
// from the kind's cursor in c: up to what is left of p.Max once have jobs
// are claimed, and at most the kind's limit in p.KindLimits. source
// returns the PartitionSource of a kind. It returns the jobs and the
// kinds' new cursors, which the caller records (Set) once its transaction
// has committed.
func (c *PartitionCursors) ClaimPartitionedKinds(ctx context.Context, p *JobClaimParams, have int,
	source func(kind string) PartitionSource) ([]*kilntype.JobRow, map[string]string, error) {
	var claimed []*kilntype.JobRow
	cursors := map[string]string{}
	for _, kind := range p.PartitionedKinds() {
		want := p.Max - have - len(claimed)
		if limit, ok := p.KindLimits[kind]; ok {
			want = min(want, limit)
		}
		if !p.Claims(kind) || want <= 0 {
			continue
		}
		jobs, cursor, err := ClaimPartitioned(ctx, source(kind), c.Get(p.Queue, kind), want, p.Partitioned[kind].MaxRunning)
		if err != nil {
			return nil, nil, err
		}
		cursors[kind] = cursor
		claimed = append(claimed, jobs...)
	}
	return claimed, cursors, nil
}

// Get returns the cursor of queue and kind ("" at first).
func (c *PartitionCursors) Get(queue, kind string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byKind[[2]string{queue, kind}]
}

// Set records the cursor of queue and kind.
func (c *PartitionCursors) Set(queue, kind, cursor string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKind == nil {
		c.byKind = make(map[[2]string]string)
	}
	c.byKind[[2]string{queue, kind}] = cursor
}
