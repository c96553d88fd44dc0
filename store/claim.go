package store

import (
	"maps"
	"slices"
	"time"
)

// ClaimFrontEvery and ClaimFrontAfter bound how long a job may wait that
// becomes due before, in claim order (priority, then ScheduledAt, then
// ID), jobs that a Store's earlier claim of the same queue and kinds took:
// a job made available again (a continuation whose parents finished, a
// retry or snooze promoted, a job sent back by a stopping process, an
// expired lease rescued), one inserted with an earlier ScheduledAt or a
// higher priority, or one that another process's clock or commit order
// put there. A store may start a claim past the jobs its previous claims
// took (the PostgreSQL store does, for the plain claim of named kinds:
// the index entries of claimed jobs stay in its index until a VACUUM),
// but then:
//
//   - every ClaimFrontEvery-th claim of that queue and kinds, counted from
//     the last one that read from the front, reads from the front;
//   - so does any claim whose Now is ClaimFrontAfter or more after the Now
//     of the last one that did;
//   - a claim that started past its marks and found fewer due jobs than
//     its Max reads from the front for the rest in the same JobClaim, and
//     the claim after it reads from the front too.
//
// Such a job is thus taken by the first claim from the front after it
// became due and visible, in claim order as always: before it, at most
// ClaimFrontEvery - 1 claims of that Store, for at most ClaimFrontAfter
// of their Now, may take jobs that come after it in claim order. Claims
// of other Stores (other processes) are not held back by this one's. A
// store that always reads from the front (SQLite) meets the bound with
// none.
const (
	ClaimFrontEvery = 16
	ClaimFrontAfter = 100 * time.Millisecond
)

// KindFilter returns the kinds a backend restricts the claim to: nil when
// AnyKind is set (every kind), else Kinds. Backends return no job, without
// reading, for a claim with neither (see ClaimsNothing).
func (p *JobClaimParams) KindFilter() []string {
	if p.AnyKind {
		return nil
	}
	return p.Kinds
}

// ClaimsNothing reports whether the claim can take no job whatever the
// store holds: Max below 1, or no Kinds without AnyKind. "No kinds" never
// means "any kind": a process without workers must not claim.
func (p *JobClaimParams) ClaimsNothing() bool {
	return p.Max < 1 || (!p.AnyKind && len(p.Kinds) == 0)
}

// ClusterLimitedKinds returns the kinds of p.ClusterKindLimits, sorted:
// the order in which a backend locks them, so that concurrent claims never
// wait for each other in a cycle.
func (p *JobClaimParams) ClusterLimitedKinds() []string {
	return slices.Sorted(maps.Keys(p.ClusterKindLimits))
}

// RateLimitedKinds returns the kinds of p.RateLimits, sorted.
func (p *JobClaimParams) RateLimitedKinds() []string {
	return slices.Sorted(maps.Keys(p.RateLimits))
}

// KeyRateLimitedKinds returns the kinds of p.KeyRateLimits, sorted.
func (p *JobClaimParams) KeyRateLimitedKinds() []string {
	return slices.Sorted(maps.Keys(p.KeyRateLimits))
}

// SerializedKinds returns the kinds whose claims a backend serializes
// across processes: those of ClusterKindLimits, of RateLimits, of
// KeyRateLimits and of Partitioned with a positive MaxRunning, sorted and
// without repeats (the order in which it locks them).
func (p *JobClaimParams) SerializedKinds() []string {
	kinds := make([]string, 0, len(p.ClusterKindLimits)+len(p.RateLimits)+len(p.KeyRateLimits))
	for kind := range p.ClusterKindLimits {
		kinds = append(kinds, kind)
	}
	for kind := range p.RateLimits {
		if _, ok := p.ClusterKindLimits[kind]; !ok {
			kinds = append(kinds, kind)
		}
	}
	for kind := range p.KeyRateLimits {
		if !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}
	for kind, pc := range p.Partitioned {
		if pc.MaxRunning > 0 && !slices.Contains(kinds, kind) {
			kinds = append(kinds, kind)
		}
	}
	slices.Sort(kinds)
	return kinds
}

// MergeKindLimits returns the per-kind caps of a claim with cluster limits:
// for each kind of p.ClusterKindLimits, its limit minus running[kind] (the
// kind's jobs running anywhere, at least 0), lowered to p.KindLimits[kind]
// when that is lower; the kinds of p.KindLimits alone keep their cap.
// Backends call it once they have counted the running jobs under their
// cluster-limit lock.
func MergeKindLimits(p *JobClaimParams, running map[string]int) map[string]int {
	out := make(map[string]int, len(p.KindLimits)+len(p.ClusterKindLimits))
	maps.Copy(out, p.KindLimits)
	for kind, limit := range p.ClusterKindLimits {
		free := max(limit-running[kind], 0)
		if local, ok := out[kind]; !ok || free < local {
			out[kind] = free
		}
	}
	return out
}
