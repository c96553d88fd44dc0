package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

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

// PartitionedKinds returns the kinds claimed by partition key, sorted:
// those of p.Partitioned and of p.KeyRateLimits.
func (p *JobClaimParams) PartitionedKinds() []string {
	kinds := slices.Collect(maps.Keys(p.Partitioned))
	for kind := range p.KeyRateLimits {
		if _, ok := p.Partitioned[kind]; !ok {
			kinds = append(kinds, kind)
		}
	}
	slices.Sort(kinds)
	return kinds
}

// ClaimsByKey reports whether some kind of p is claimed by partition key
// (Partitioned or KeyRateLimits): the backend then claims them with
// ClaimPartitionedKinds.
func (p *JobClaimParams) ClaimsByKey() bool {
	return len(p.Partitioned) > 0 || len(p.KeyRateLimits) > 0
}

// WithoutPartitioned returns a copy of p that excludes the kinds claimed
// by partition key (a KindLimits entry of 0 each) and takes at most max
// jobs: the claim of the other kinds.
func (p *JobClaimParams) WithoutPartitioned(max int) *JobClaimParams {
	out := *p
	out.Max = max
	out.Partitioned, out.KeyRateLimits = nil, nil
	out.KindLimits = make(map[string]int, len(p.KindLimits)+len(p.Partitioned)+len(p.KeyRateLimits))
	maps.Copy(out.KindLimits, p.KindLimits)
	for _, kind := range p.PartitionedKinds() {
		out.KindLimits[kind] = 0
	}
	return out.withKinds()
}

// ClaimsOthers reports whether WithoutPartitioned, for a positive max,
// may claim a kind: p claims any kind, or one of its Kinds is neither
// claimed by partition key nor excluded by a KindLimits entry of 0 or
// less. When it reports false, WithoutPartitioned(max).ClaimsNothing()
// holds, and the claim of the other kinds can be skipped without building
// it.
func (p *JobClaimParams) ClaimsOthers() bool {
	if p.AnyKind {
		return true
	}
	for _, k := range p.Kinds {
		_, keyed := p.Partitioned[k]
		_, keyRated := p.KeyRateLimits[k]
		if l, ok := p.KindLimits[k]; !keyed && !keyRated && (!ok || l > 0) {
			return true
		}
	}
	return false
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
	// KeyBudgets returns, in byte order after after ("" starts from the
	// first), the partition keys other than "" that have available jobs
	// of the kind in the queue, each with the theoretical arrival time of
	// its per-key rate budget of the kind (the zero time: none), one index
	// seek and one primary-key lookup each: up to the n-th key whose TAT
	// is not after eligible (or that has none), or scan keys, whichever
	// comes first. end reports that the keys ran out (no key follows the
	// last one). When after is "", the first entry is the key "" (the
	// budget of the jobs without a key), whether or not such jobs wait.
	KeyBudgets(ctx context.Context, after string, n, scan int, eligible time.Time) (keys []KeyTAT, end bool, err error)
	PartitionTaker
}

// PartitionTaker is what every claim of one kind of one queue by partition
// key needs of a backend, in rotation (PartitionSource) or in fair order
// (PartitionFairOrder): the take of jobs by key and of jobs without a key.
type PartitionTaker interface {
	// Take claims, for each keys[i], up to takes[i] of its due available
	// jobs (in priority, then ScheduledAt, then ID order), and up to
	// empty of the due available jobs without a key among the first
	// window of the kind in claim order, skipping jobs other claims hold;
	// it returns the claimed jobs, running. A PartitionFairOrder that is
	// not a PartitionSource is given no keys (its walk takes the jobs with
	// a key).
	Take(ctx context.Context, keys []string, takes []int, empty, window int) ([]*kilntype.JobRow, error)
}

// PartitionRounder is a PartitionSource that also runs a whole round of
// ClaimPartitioned without a per-key rate budget in one call (Round):
// ClaimPartitioned then calls Round for each of its rounds, and neither
// Running, Keys nor Take.
type PartitionRounder interface {
	PartitionSource
	// Round visits the partition keys other than "" that have available
	// jobs of the kind in the queue, in byte order after r.After ("" starts
	// from the first), one index seek each, and allots each key it visits
	// min(r.Share, what is left of r.Need, and, when r.MaxRunning > 0, the
	// difference between r.MaxRunning and the key's running jobs of the
	// kind in every process, counted by the round), at least 0; it stops
	// once its allotments add up to r.Need, or after r.Scan keys, or when
	// the keys run out. It then claims each visited key's allotment of its
	// due available jobs and up to r.Empty jobs without a key, as Take
	// does, and returns them with the last key it visited (r.After if
	// none), the number of keys it visited, and whether the keys ran out
	// (no key follows the last one).
	//
	// When r.MaxRunning > 0 the round counts the running jobs, and takes
	// its jobs, under the backend's lock of the kind, so that the cap holds
	// across processes. A backend may run each round in a transaction of
	// its own: the jobs of a round are then claimed once Round returns
	// them, whatever later rounds do.
	Round(ctx context.Context, r PartitionRound) (jobs []*kilntype.JobRow, last string, visited int, end bool, err error)
}

// PartitionInOrder is a PartitionSource that can also claim the jobs of a
// kind capped per key in claim order, as a claim without keys would
// (InOrder): ClaimPartitioned tries that first when maxRunning > 0 and no
// per-key rate limit applies, and claims by key in rotation only the jobs
// it did not find so (see ClaimPartitioned).
type PartitionInOrder interface {
	PartitionSource
	// InOrder claims up to n of the kind's due available jobs in the
	// queue, among its first window in claim order (priority, then
	// ScheduledAt, then ID), skipping jobs other claims hold: each job
	// without a key, and each job with a key whose running jobs of the
	// kind in every process and due available jobs before it in claim
	// order number fewer than maxRunning (so that a key gets at most its
	// room, its first jobs in claim order). It counts the running jobs,
	// and takes its jobs, under the backend's lock of the kind, as
	// PartitionRounder.Round does; the jobs are claimed once it returns
	// them.
	InOrder(ctx context.Context, n, window, maxRunning int) ([]*kilntype.JobRow, error)
}

// PartitionFairOrder is a PartitionTaker that keeps the available jobs
// with a key of each queue, kind and priority in fair order: start-time
// fair queueing at enqueue (Goyal, Vin, Cheng, SIGCOMM 1996), each job's
// tag is max(V, its key's last tag + 1) when it becomes available, V the
// virtual time: the tag at the front, but never below the largest tag a
// claim in fair order took (SQLite, migration 038), so that a key passed
// over at the front (at its limit, over its budget) does not hold V back
// while the others run ahead; the keys come round robin, one job per key
// per tag level (SQLite, migration 035). ClaimPartitionedKinds claims a
// kind without a per-key rate limit (capped, MaxRunning > 0, or fair,
// MaxRunning == 0) from such a source in that order (FairOrder), and one
// with a per-key rate limit from a PartitionFairBudget, instead of
// in claim order and by key in rotation; the jobs of the kind without a
// key are not in the fair order, and are sought as a rotation's first key
// visits them (Take with no keys, its cursor Unkeyed) every
// PartitionWalkEvery-th claim of the queue and kind, and after a walk that
// came back short.
type PartitionFairOrder interface {
	PartitionTaker
	// FairOrder claims up to n of the kind's due available jobs with a key
	// in the queue, in fair order (priority, then tag, then ID), passing
	// over each job whose key has maxRunning (0: no cap) running jobs of
	// the kind in every process, counting the jobs it took before it; the
	// walk reads the fair order from its front until it has n jobs or the
	// jobs run out, and takes its jobs under the backend's lock of the
	// kind. Within a key, jobs are thus claimed in the order they became
	// available (priority first). A backend may bound later walks past
	// keys at their limit (SQLite parks their entries beyond the first
	// maxRunning) as long as each key's jobs are claimed in that order
	// whatever its room (SQLite's walk passes an entry with a parked job
	// of its key before it), and every claim of the kind in fair order,
	// with a cap or without (the cap removed, a per-key rate limit alone),
	// gives parked jobs back: none may be left unclaimed.
	FairOrder(ctx context.Context, n, maxRunning int) ([]*kilntype.JobRow, error)
}

// PartitionFairBudget is a PartitionFairOrder that also claims in fair
// order a kind with a per-key rate limit (FairOrderBudget): the walk tests
// each key's budget as it tests its running jobs.
type PartitionFairBudget interface {
	PartitionFairOrder
	// FairOrderBudget is FairOrder within the per-key rate budgets of
	// budget: the walk reads the budget of each key it meets once (See),
	// takes a job of a key only while the key's budget has room
	// (TryTake, which counts it), and passes the key over otherwise, as it
	// passes a key at maxRunning. It claims no job without a key.
	FairOrderBudget(ctx context.Context, n, maxRunning int, budget *KeyBudget) ([]*kilntype.JobRow, error)
}

// PartitionWalkEvery and PartitionInOrderRest bound how often a claim of a
// kind capped per key, from a PartitionInOrder source, claims in claim
// order instead of by key in rotation (ClaimPartitioned): every
// PartitionWalkEvery-th claim of a queue and kind of a Store
// (PartitionCursors) claims by key in rotation alone, and so do the
// PartitionInOrderRest claims that follow one whose in-order read came
// back short (a backlog of keys at their limit at the front of the claim
// order, which the next claims would read again to no avail), twice as
// many after each further short one in a row, up to 16 times as many.
const (
	PartitionWalkEvery   = 16
	PartitionInOrderRest = 16
)

// partitionInOrderFactor sizes the window of an in-order claim
// (PartitionInOrder.InOrder): this many times the jobs wanted, at least
// partitionInOrderMin.
const (
	partitionInOrderFactor = 4
	partitionInOrderMin    = 64
)

// PartitionRound is one round of ClaimPartitioned, for
// PartitionRounder.Round.
type PartitionRound struct {
	After      string // the key after which the round starts ("": the first)
	Need       int    // the jobs with a key the round may allot
	Share      int    // the jobs a key is allotted at most
	MaxRunning int    // the cap on a key's running jobs (0: none)
	Scan       int    // the keys the round visits at most
	Empty      int    // the jobs without a key to claim
	Window     int    // the jobs of the kind, in claim order, that Empty's are sought among
}

// maxPartitionRounds bounds the rounds of ClaimPartitioned: each one is
// one listing of keys and one Take call, which a backend runs as a fixed
// number of statements however many keys they name (on SQLite one, and a
// read and an UPDATE), or one Round call (one statement on PostgreSQL).
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
// difference. With a per-key rate limit (budget not nil), a key gets at
// most its budget's allowance (the jobs without a key share the budget of
// the key ""), and a key whose budget is spent is passed over like a key
// at maxRunning: the listing of keys (PartitionSource.KeyBudgets) counts
// only the keys whose budget has room towards the keys it returns, so a
// claim reaches the keys with room past any number of spent ones (up to
// maxPartitionKeys per round). The claim ends when it has want jobs, when
// a whole rotation took nothing, or after maxPartitionRounds rounds.
//
// Hence the bound on waiting: a key with a due job and room under
// maxRunning gets a job in the claims of one process, at the latest, once
// that process's claims have taken ceil(E / M) times, where E is the
// number of keys with due jobs and M the jobs each claim takes: the
// cursor moves past at least M keys with due jobs per claim (fewer only
// when a concurrent claim holds a key's jobs), whatever the number of
// jobs each key has queued (and, under a per-key rate limit, once its
// budget has room). The jobs of one key run in claim order.
//
// Without a budget, a src that is a PartitionRounder runs each round in
// one call (Round), which counts the running jobs of the keys it visits
// itself, and visits up to maxPartitionKeys keys until their room adds up
// to what the round wants. On an error, ClaimPartitioned returns the jobs
// of the rounds before it (which a backend whose rounds commit on their
// own has claimed) and the cursor after them.
func ClaimPartitioned(ctx context.Context, src PartitionSource, cursor string, want, maxRunning int, budget *KeyBudget) ([]*kilntype.JobRow, string, error) {
	jobs, cursor, _, err := claimPartitioned(ctx, src, cursor, want, maxRunning, budget, nil)
	return jobs, cursor, err
}

// claimPartitioned is ClaimPartitioned, which, when ord is not nil (src
// as a PartitionInOrder, for a kind capped per key without a per-key rate
// limit: the caller checks), first claims in claim order
// (PartitionInOrder.InOrder) and by key in rotation only what that left
// of want; short reports that the in-order claim was made and came back
// with fewer than want jobs.
func claimPartitioned(ctx context.Context, src PartitionSource, cursor string, want, maxRunning int, budget *KeyBudget,
	ord PartitionInOrder) (claimed []*kilntype.JobRow, next string, short bool, err error) {
	if want <= 0 {
		return nil, cursor, false, nil
	}
	if ord != nil {
		jobs, err := ord.InOrder(ctx, want, max(want*partitionInOrderFactor, partitionInOrderMin), maxRunning)
		if err != nil || len(jobs) == want {
			return jobs, cursor, false, err
		}
		jobs, cursor, err := claimRotation(ctx, src, cursor, want, maxRunning, budget, jobs)
		return jobs, cursor, true, err
	}
	jobs, cursor, err := claimRotation(ctx, src, cursor, want, maxRunning, budget, nil)
	return jobs, cursor, false, err
}

// claimRotation is ClaimPartitioned's claim by key in rotation, for what
// the jobs already claimed (by an in-order claim) leave of want.
func claimRotation(ctx context.Context, src PartitionSource, cursor string, want, maxRunning int, budget *KeyBudget,
	claimed []*kilntype.JobRow) ([]*kilntype.JobRow, string, error) {
	if len(claimed) >= want {
		return claimed, cursor, nil
	}
	rounder, _ := src.(PartitionRounder)
	if budget != nil {
		rounder = nil
	}
	var running map[string]int
	switch {
	case rounder != nil:
		// Each Round counts the running jobs of the keys it visits.
	case maxRunning > 0:
		var err error
		if running, err = src.Running(ctx); err != nil {
			return claimed, cursor, err
		}
	}
	// room returns how many jobs of key the claim may take, up to wish:
	// its room under maxRunning and under its rate budget. A key held
	// back by its budget is recorded for the claim's RateWait.
	room := func(key string, wish int) int {
		if maxRunning > 0 && key != "" { // jobs without a key are not capped
			wish = min(wish, max(maxRunning-running[key], 0))
		}
		if budget != nil && wish > 0 {
			if allow := budget.allowance(key); allow < wish {
				budget.hold(key)
				wish = allow
			}
		}
		return wish
	}
	var (
		share       = 1 // jobs per key in this rotation
		seen        int // keys with jobs visited in this rotation
		took        int // jobs taken in this rotation
		emptyVisits = cursor == ""
		whole       = cursor == "" // whether this rotation started at the first key
	)
	// listed runs a round by listing the keys (Keys or KeyBudgets), then
	// taking their jobs (Take), and up to share jobs without a key when
	// visitEmpty (within the budget of the key "", which KeyBudgets lists
	// first).
	listed := func(need int, visitEmpty bool) ([]*kilntype.JobRow, string, int, bool, error) {
		var (
			keys []string
			end  bool
			err  error
		)
		switch {
		case budget != nil && maxRunning <= 0:
			// KeyBudgets counts only the keys with room: as many as the
			// claim still wants jobs.
			keys, end, err = listKeys(ctx, src, cursor, min(need, maxPartitionKeys), budget)
		default:
			keys, end, err = listKeys(ctx, src, cursor, min(max(need, 1)*2, maxPartitionKeys), budget)
		}
		if err != nil {
			return nil, "", 0, false, err
		}
		empty := 0
		if visitEmpty {
			empty = min(share, need)
			if budget != nil {
				empty = room("", empty)
			}
		}
		var (
			visit []string
			takes []int
			sum   = empty
			last  = cursor
		)
		for _, k := range keys {
			if sum >= need {
				break
			}
			last = k
			t := room(k, min(share, need-sum))
			if t > 0 {
				visit, takes = append(visit, k), append(takes, t)
				sum += t
			}
		}
		jobs, err := src.Take(ctx, visit, takes, empty, max(need*4, 64))
		if err != nil {
			return nil, "", 0, false, err
		}
		for _, j := range jobs {
			if j.Partition != "" && running != nil {
				running[j.Partition]++
			}
			if budget != nil {
				budget.take(j.Partition)
			}
		}
		return jobs, last, len(keys), end && (len(keys) == 0 || last == keys[len(keys)-1]), nil
	}
	for round := 0; round < maxPartitionRounds && len(claimed) < want; round++ {
		need := want - len(claimed)
		var (
			jobs    []*kilntype.JobRow
			last    string
			visited int
			end     bool
			err     error
		)
		if rounder != nil {
			empty := 0
			if emptyVisits {
				empty = min(share, need)
			}
			jobs, last, visited, end, err = rounder.Round(ctx, PartitionRound{After: cursor, Need: need - empty,
				Share: share, MaxRunning: maxRunning, Scan: maxPartitionKeys, Empty: empty, Window: max(need*4, 64)})
		} else {
			jobs, last, visited, end, err = listed(need, emptyVisits)
		}
		if err != nil {
			return claimed, cursor, err
		}
		emptyVisits = false
		claimed = append(claimed, jobs...)
		took += len(jobs)
		seen += visited
		cursor = last
		if end {
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

// listKeys lists up to n keys after after for a round of
// ClaimPartitioned, and whether they ran out: with budget, the keys of
// src.KeyBudgets (up to n with room, past at most maxPartitionKeys keys),
// whose budgets it records in budget; without, those of src.Keys.
func listKeys(ctx context.Context, src PartitionSource, after string, n int, budget *KeyBudget) ([]string, bool, error) {
	if budget == nil {
		keys, err := src.Keys(ctx, after, n)
		return keys, len(keys) < n, err
	}
	listed, end, err := src.KeyBudgets(ctx, after, n, maxPartitionKeys, budget.Eligible())
	if err != nil {
		return nil, false, err
	}
	keys := make([]string, 0, len(listed))
	for _, kt := range listed {
		budget.see(kt.Key, kt.TAT)
		if kt.Key != "" {
			keys = append(keys, kt.Key)
		}
	}
	return keys, end, nil
}

// ceilDiv returns a / b rounded up, for positive b.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// PartitionCursors keeps, per queue and kind, the partition key after
// which a backend's next partitioned claim starts, and whose turn it is
// to go first in a claim of partitioned and other kinds (InTurn). The
// zero value is ready; it is safe for concurrent use.
type PartitionCursors struct {
	// mu guards byKind, unkeyed and inOrder.
	mu      sync.Mutex
	byKind  map[[2]string]string
	unkeyed map[[2]string]ClaimPos
	inOrder map[[2]string]inOrderState
	turn    atomic.Uint64
}

// inOrderState is when a queue and kind's next claims may claim in claim
// order (PartitionWalkEvery, PartitionInOrderRest).
type inOrderState struct {
	claims int // claims since the last by key in rotation from the start
	rest   int // claims left that claim by key after a short in-order claim
	shorts int // short in-order claims in a row
}

// inOrderTurn counts a claim of queue and kind and reports whether it may
// claim in claim order: not every PartitionWalkEvery-th claim, nor the
// PartitionInOrderRest claims after a short one (inOrderShort).
func (c *PartitionCursors) inOrderTurn(queue, kind string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inOrder == nil {
		c.inOrder = make(map[[2]string]inOrderState)
	}
	k := [2]string{queue, kind}
	st := c.inOrder[k]
	defer func() { c.inOrder[k] = st }()
	if st.rest > 0 {
		st.rest--
		st.claims = 0
		return false
	}
	if st.claims++; st.claims >= PartitionWalkEvery {
		st.claims = 0
		return false
	}
	return true
}

// inOrderDone records how an in-order claim of queue and kind ended: when
// it came back short, the next PartitionInOrderRest claims claim by key in
// rotation, twice as many after each further short one in a row, up to
// 16 times as many (fewer keys with room than workers: each in-order read
// would come back short); a full one ends the doubling.
func (c *PartitionCursors) inOrderDone(queue, kind string, short bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]string{queue, kind}
	st := c.inOrder[k]
	if !short {
		st.shorts = 0
	} else {
		st.rest, st.claims = PartitionInOrderRest<<min(st.shorts, 4), 0
		st.shorts++
	}
	c.inOrder[k] = st
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
// are claimed, at most the kind's limit in p.KindLimits, and within each
// key's budget of rate (rate.KeyBudget; rate may be nil). source returns
// the PartitionTaker of a kind (a PartitionSource unless it claims in
// fair order: PartitionFairOrder, PartitionFairBudget). It returns the jobs
// and the new cursors of the kinds whose cursor moved (nil if none did),
// which the caller records (Set) once its transaction has committed. On an error it returns them as they were before it, with
// the error: a backend whose rounds commit on their own
// (PartitionRounder) has claimed those jobs.
//
// A kind without a per-key rate limit from a source that is a
// PartitionFairOrder (SQLite), and one with a per-key rate limit from a
// PartitionFairBudget (SQLite), is claimed in fair order (claimFair): a
// key with a due job and room (under its cap and its budget) is served
// within ceil(E / M) claims of any process (the order is in the database;
// the keys over budget are passed over without counting), and a job
// without a key (within the budget of the key "") within
// PartitionWalkEvery claims of the process once it is within the window
// of the kind's jobs in claim order that a look reads (see claimFair).
//
// Otherwise, a kind capped per key (its PartitionClaim.MaxRunning > 0)
// without a per-key rate limit, from a source that is a PartitionInOrder
// (PostgreSQL), is claimed
// first in claim order (PartitionInOrder.InOrder: the jobs of keys with
// room among the first few times the wanted jobs of the kind, as a claim
// without keys would take them), and by key in rotation
// (ClaimPartitioned) only for what that left: when the backlog of keys at their limit fills
// the front of the claim order, the in-order claim comes back short and
// the rotation finds the other keys. Every PartitionWalkEvery-th claim of
// a queue and kind, and the PartitionInOrderRest claims after a short
// one, claim by key in rotation alone. For such a kind the bound is thus
// ceil(E / M) claims by key in rotation, at most PartitionWalkEvery ×
// ceil(E / M) claims of the process; the claims in claim order between
// them take the jobs of keys with room oldest first, so a key's due job
// waits no longer than that, nor than the jobs before it in claim order
// of keys with room take to claim.
func (c *PartitionCursors) ClaimPartitionedKinds(ctx context.Context, p *JobClaimParams, have int, rate *RateClaim,
	source func(kind string) PartitionTaker) ([]*kilntype.JobRow, map[string]string, error) {
	var (
		claimed []*kilntype.JobRow
		cursors map[string]string // made at the first cursor that moves
	)
	for _, kind := range p.PartitionedKinds() {
		want := p.Max - have - len(claimed)
		if limit, ok := p.KindLimits[kind]; ok {
			want = min(want, limit)
		}
		if !p.Claims(kind) || want <= 0 {
			continue
		}
		taker, maxRunning, budget := source(kind), p.Partitioned[kind].MaxRunning, rate.KeyBudget(kind)
		if walk := fairWalk(ctx, taker, maxRunning, budget); walk != nil {
			jobs, err := c.claimFair(ctx, taker, p.Queue, kind, want, walk, budget)
			claimed = appendClaimed(claimed, jobs)
			if err != nil {
				return claimed, cursors, err
			}
			continue
		}
		src, ok := taker.(PartitionSource)
		if !ok {
			return claimed, cursors, fmt.Errorf("claim %s by key: the store neither claims it in fair order nor lists its keys", kind)
		}
		var ord PartitionInOrder // set on this kind's in-order turns
		if o, ok := src.(PartitionInOrder); ok && maxRunning > 0 && budget == nil && c.inOrderTurn(p.Queue, kind) {
			ord = o
		}
		from := c.Get(p.Queue, kind)
		jobs, cursor, short, err := claimPartitioned(ctx, src, from, want, maxRunning, budget, ord)
		if ord != nil && err == nil {
			c.inOrderDone(p.Queue, kind, short)
		}
		if cursor != from { // an in-order claim that did not go on by key leaves it
			if cursors == nil {
				cursors = map[string]string{}
			}
			cursors[kind] = cursor
		}
		claimed = appendClaimed(claimed, jobs)
		if err != nil {
			return claimed, cursors, err
		}
	}
	return claimed, cursors, nil
}

// appendClaimed returns jobs appended to claimed: jobs itself while
// claimed is empty (the jobs of a claim's first kind, which a backend
// returns in a slice of their own), without a copy.
func appendClaimed(claimed, jobs []*kilntype.JobRow) []*kilntype.JobRow {
	if len(claimed) == 0 {
		return jobs
	}
	return append(claimed, jobs...)
}

// fairWalk returns the walk of src in fair order for a kind capped at
// maxRunning per key (0: no cap) within the per-key budgets of budget (nil:
// no per-key rate limit): PartitionFairOrder.FairOrder, or, with a budget,
// PartitionFairBudget.FairOrderBudget; nil when src has none (the kind is
// then claimed by key in rotation).
func fairWalk(ctx context.Context, src PartitionTaker, maxRunning int, budget *KeyBudget) func(n int) ([]*kilntype.JobRow, error) {
	if budget != nil {
		fb, ok := src.(PartitionFairBudget)
		if !ok {
			return nil
		}
		return func(n int) ([]*kilntype.JobRow, error) { return fb.FairOrderBudget(ctx, n, maxRunning, budget) }
	}
	fo, ok := src.(PartitionFairOrder)
	if !ok {
		return nil
	}
	return func(n int) ([]*kilntype.JobRow, error) { return fo.FairOrder(ctx, n, maxRunning) }
}

// claimFair claims up to want jobs of kind in fair order (walk), and the
// jobs without a key from src (Take with no keys, as a rotation's first
// visit does): every PartitionWalkEvery-th claim of the queue and kind of
// c, up to a quarter of want (at least 1) before the walk, and after a walk
// that came back short, what it left of want. A due job without a key of
// such a kind is thus claimed within PartitionWalkEvery claims of the
// process, whatever the keys' backlogs. With a per-key rate limit (budget not
// nil) the jobs without a key take at most the allowance of the key "",
// which the store has read (KeyBudget.See) before the claim.
func (c *PartitionCursors) claimFair(ctx context.Context, src PartitionTaker, queue, kind string, want int,
	walk func(n int) ([]*kilntype.JobRow, error), budget *KeyBudget) ([]*kilntype.JobRow, error) {
	var claimed []*kilntype.JobRow
	window := max(want*partitionInOrderFactor, partitionInOrderMin)
	unkeyed := func(n int) ([]*kilntype.JobRow, bool, error) {
		if budget != nil {
			if allow := budget.allowance(""); allow < n {
				budget.hold("")
				n = allow
			}
			if n <= 0 {
				return nil, false, nil
			}
		}
		jobs, err := src.Take(ctx, nil, nil, n, window)
		if budget != nil {
			for range jobs {
				budget.take("")
			}
		}
		return jobs, true, err
	}
	if c.unkeyedTurn(queue, kind) {
		jobs, _, err := unkeyed(max(1, want/4))
		if err != nil {
			return nil, err
		}
		claimed = jobs
	}
	if len(claimed) < want {
		jobs, err := walk(want - len(claimed))
		claimed = append(claimed, jobs...)
		if err != nil {
			return claimed, err
		}
		if len(claimed) < want { // a short walk: the jobs without a key may fill the rest
			jobs, _, err := unkeyed(want - len(claimed))
			claimed = append(claimed, jobs...)
			if err != nil {
				return claimed, err
			}
		}
	}
	return claimed, nil
}

// unkeyedTurn counts a claim in fair order of queue and kind and reports
// whether it looks for jobs without a key before its walk: every
// PartitionWalkEvery-th claim.
func (c *PartitionCursors) unkeyedTurn(queue, kind string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inOrder == nil {
		c.inOrder = make(map[[2]string]inOrderState)
	}
	k := [2]string{queue, kind}
	st := c.inOrder[k]
	defer func() { c.inOrder[k] = st }()
	if st.claims++; st.claims >= PartitionWalkEvery {
		st.claims = 0
		return true
	}
	return false
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

// ClaimPos is a job's place in claim order: priority, then ScheduledAt,
// then ID. The zero value (ID 0) stands for no place: before every job.
type ClaimPos struct {
	Priority    int
	ScheduledAt time.Time
	ID          int64
}

// Unkeyed returns where the next deep read of the available jobs without
// a key of queue and kind starts (the zero ClaimPos at first): see
// SetUnkeyed.
func (c *PartitionCursors) Unkeyed(queue, kind string) ClaimPos {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unkeyed[[2]string{queue, kind}]
}

// SetUnkeyed records where the next deep read of the available jobs
// without a key of queue and kind starts, after a deep read that read
// read jobs, last the last of them, looking for up to window: after last,
// or, when it read fewer than window (it reached the kind's last job),
// from the start again (the zero ClaimPos).
//
// A claim by partition key looks for jobs without a key among the first
// jobs of the kind in claim order (PartitionRound.Window of them), which
// jobs with a key may fill however deep the jobs without one wait; so,
// when that window is full and holds fewer jobs without a key than the
// claim wants, a backend reads one more window of the same size after the
// place where its previous such read stopped, and records where this one
// stopped (the zero ClaimPos once it reached the last job). A job without
// a key behind D jobs with one is thus read within ceil(D / Window) of the
// rounds that look for jobs without a key, however many jobs with a key
// wait, at the cost of one more window read in such rounds.
func (c *PartitionCursors) SetUnkeyed(queue, kind string, last ClaimPos, read, window int) {
	pos := last
	if read < window {
		pos = ClaimPos{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unkeyed == nil {
		c.unkeyed = make(map[[2]string]ClaimPos)
	}
	c.unkeyed[[2]string{queue, kind}] = pos
}
