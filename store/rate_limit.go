package store

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// RateLimitStore is the part of Store that keeps the rate limits set at
// run time, which beat the workers' defaults in code, and reads the state
// of the budgets that claims keep (see JobClaimParams.RateLimits).
type RateLimitStore interface {
	// RateLimitSet sets the run-time rate limit of params.Kind (of each of
	// its partition keys with PerKey) to params.Limit, replacing any, with
	// UpdatedAt params.Now. It takes effect at the next claim of the kind
	// by any process. The budget's state is kept, its debt cut to the new
	// limit's full bucket (its theoretical arrival time to at most
	// (Burst+1) × Interval past the store's clock for budgets), in the
	// same transaction: a raised limit applies at once, a lowered one
	// counts the starts already made at their old cost. A Limit that is not Enabled, or one
	// that fails Validate, is an error wrapping a
	// *kilntype.ValidationError, as is an empty Kind.
	RateLimitSet(ctx context.Context, params *RateLimitSetParams) error
	// RateLimitDelete removes the run-time rate limit of kind (per key with
	// perKey), so that the worker's default applies again; an error
	// wrapping kilntype.ErrNotFound when none is set.
	RateLimitDelete(ctx context.Context, kind string, perKey bool) error
	// RateLimitList returns, ordered by kind then PerKey, the run-time
	// limits and budget states of params.Kinds (every kind with a run-time
	// limit or a budget state when nil): one row for each kind and PerKey
	// that has either, or that params.Kinds names (with neither set, such
	// a row has no Override and a zero TAT).
	RateLimitList(ctx context.Context, params *RateLimitListParams) ([]*RateLimitRow, error)
}

// RateLimitSetParams sets one run-time rate limit.
type RateLimitSetParams struct {
	Kind   string
	PerKey bool // the limit of each partition key of Kind; false: of Kind as a whole
	Limit  kilntype.RateLimit
	Now    time.Time // the caller's time: UpdatedAt
}

// Validate returns a *kilntype.ValidationError when p cannot be stored:
// an empty Kind, or a Limit that is not Enabled or not valid.
func (p *RateLimitSetParams) Validate() error {
	if p.Kind == "" {
		return &kilntype.ValidationError{Field: "kind", Message: "a rate limit needs a kind"}
	}
	if p.Limit.Limit == 0 {
		return &kilntype.ValidationError{Field: "limit", Message: "0 sets no limit (remove the run-time limit instead)"}
	}
	return p.Limit.Validate()
}

// RateLimitListParams selects the rate limits RateLimitList returns.
type RateLimitListParams struct {
	// Kinds restricts the list to these kinds, and adds a row for each of
	// them (both PerKey values) even without an override or state; nil:
	// every kind with either.
	Kinds []string
	// Now is the caller's time; a store that reads its database's clock
	// for rate limits (PostgreSQL) returns that clock's instead.
	Now time.Time
}

// RateLimitRow is what the store holds of one rate limit: its run-time
// override and the state of its budget.
type RateLimitRow struct {
	Kind   string
	PerKey bool
	// Override is the limit set at run time; nil: none.
	Override *kilntype.RateLimit
	// UpdatedAt is when Override was set; nil without one.
	UpdatedAt *time.Time
	// TAT is the budget's theoretical arrival time (zero: a full budget);
	// with PerKey, the latest of its keys' (the busiest key).
	TAT time.Time
	// Now is the time the row was read at, on the clock the claims use
	// for the budget (the database's on PostgreSQL, unless CallerClock).
	Now time.Time
}

// RateClaim is the rate-limit part of one claim of rate-limited kinds
// (JobClaimParams.RateLimits and KeyRateLimits), shared by the stores. A
// store, holding what serializes the claims of those kinds across
// processes, reads the kinds' run-time limits and budget states (the
// per-key ones as its partitioned claim lists the keys: KeyBudget), makes
// a RateClaim with NewRateClaim, claims with the KindLimits of Apply and
// the KeyBudgets, and writes back the theoretical arrival times of Taken
// in the same transaction.
type RateClaim struct {
	now     time.Time
	budgets map[string]*rateBudget // enabled limits only
	keys    map[string]*KeyBudget  // enabled per-key limits only
}

// RateWrite is the new theoretical arrival time of one budget after a
// claim (kiln_rate_limit_state's row).
type RateWrite struct {
	Kind   string
	PerKey bool
	Key    string // the partition key with PerKey ("" also for jobs without one); "" without
	TAT    time.Time
}

// KeyTAT is a partition key and the theoretical arrival time of its
// per-key budget (the zero time: it has none, a full budget).
type KeyTAT struct {
	Key string
	TAT time.Time
}

// KeyBudget is the per-key rate limit of one kind during a claim: the
// limit in force and the budgets of the keys the claim has listed. It is
// not safe for concurrent use (a claim is one goroutine).
type KeyBudget struct {
	limit kilntype.RateLimit
	now   time.Time
	keys  map[string]*rateBudget // listed keys
	taken map[string]int         // jobs claimed per key
	held  map[string]bool        // keys whose budget held a job back
}

// Eligible returns the latest theoretical arrival time at which a key's
// budget still lets a job start at the claim's time: now plus Burst
// intervals (kilntype.RateLimit.Allowance is positive exactly then).
func (k *KeyBudget) Eligible() time.Time {
	return k.now.Add(k.limit.Bucket() - k.limit.Interval())
}

// see records key's budget, at tat, unless the claim has seen it already
// (its allowance then counts what the claim took).
func (k *KeyBudget) see(key string, tat time.Time) {
	if _, ok := k.keys[key]; !ok {
		k.keys[key] = &rateBudget{limit: k.limit, tat: tat, allow: k.limit.Allowance(tat, k.now)}
	}
}

// allowance returns how many more jobs of key the claim may take: 0 for
// a key it has not seen.
func (k *KeyBudget) allowance(key string) int {
	b, ok := k.keys[key]
	if !ok {
		return 0
	}
	return max(b.allow-k.taken[key], 0)
}

// take counts one job of key claimed.
func (k *KeyBudget) take(key string) { k.taken[key]++ }

// hold records that key's budget held a job back.
func (k *KeyBudget) hold(key string) { k.held[key] = true }

// See records key's budget at tat (the zero time: none, a full budget),
// for a claim that reads each key's budget as it walks the keys instead of
// listing them (PartitionFairBudget): the first reading of a key in the
// claim is the one kept, so a key read again (its next job in the walk)
// keeps what the claim took of it.
func (k *KeyBudget) See(key string, tat time.Time) { k.see(key, tat) }

// TryTake reports whether the claim may take one more job of key, a key it
// has seen (See): when so, it counts the job taken (the budget written back
// by Taken includes it); when not, it records that the key's budget held a
// job back (for RateWait).
func (k *KeyBudget) TryTake(key string) bool {
	if k.allowance(key) <= 0 {
		k.hold(key)
		return false
	}
	k.take(key)
	return true
}

// rateBudget is one kind's budget during a claim.
type rateBudget struct {
	limit kilntype.RateLimit
	tat   time.Time
	allow int // jobs the claim may take
}

// NewRateClaim returns the rate-limit part of a claim of p at now (the
// clock the store keeps budgets on), given the rows the store read for p's
// rate-limited kinds (rows of other kinds are ignored; a per-key row's
// TAT is ignored, the claim reads each key's as it lists the keys). A
// kind's limit is its row's Override when set, else p.RateLimits[kind];
// its per-key limit, its PerKey row's Override when set, else
// p.KeyRateLimits[kind].
func NewRateClaim(p *JobClaimParams, rows []*RateLimitRow, now time.Time) *RateClaim {
	r := &RateClaim{now: now, budgets: make(map[string]*rateBudget, len(p.RateLimits))}
	keyLimits := make(map[string]kilntype.RateLimit, len(p.KeyRateLimits))
	for kind, limit := range p.RateLimits {
		if limit.Enabled() {
			r.budgets[kind] = &rateBudget{limit: limit}
		}
	}
	for _, row := range rows {
		if row.PerKey {
			if _, ok := p.KeyRateLimits[row.Kind]; ok && row.Override != nil {
				keyLimits[row.Kind] = *row.Override
			}
			continue
		}
		if _, ok := p.RateLimits[row.Kind]; !ok {
			continue
		}
		b := r.budgets[row.Kind]
		if row.Override != nil {
			if b == nil {
				b = &rateBudget{}
				r.budgets[row.Kind] = b
			}
			b.limit = *row.Override
		}
		if b != nil {
			b.tat = row.TAT
		}
	}
	for _, b := range r.budgets {
		b.allow = b.limit.Allowance(b.tat, now)
	}
	for kind, limit := range p.KeyRateLimits {
		if l, ok := keyLimits[kind]; ok {
			limit = l
		}
		if limit.Enabled() {
			if r.keys == nil {
				r.keys = make(map[string]*KeyBudget, len(p.KeyRateLimits))
			}
			r.keys[kind] = &KeyBudget{limit: limit, now: now, keys: map[string]*rateBudget{},
				taken: map[string]int{}, held: map[string]bool{}}
		}
	}
	return r
}

// Limited reports whether some kind of the claim has a rate limit in
// force, per kind or per key.
func (r *RateClaim) Limited() bool { return len(r.budgets) > 0 || len(r.keys) > 0 }

// Allowance returns how many jobs of kind r's per-kind rate limit let the
// claim take (kilntype.RateLimit.Allowance at the claim's time, before it
// took any), and true; or 0 and false when no per-kind limit is in force
// for kind (it is not rate limited per kind, or neither its default nor a
// run-time override is enabled).
func (r *RateClaim) Allowance(kind string) (int, bool) {
	b, ok := r.budgets[kind]
	if !ok {
		return 0, false
	}
	return b.allow, true
}

// KeyBudget returns the per-key budgets of kind for this claim: nil when
// r is nil or the kind has no per-key limit in force.
func (r *RateClaim) KeyBudget(kind string) *KeyBudget {
	if r == nil {
		return nil
	}
	return r.keys[kind]
}

// Apply returns p with its KindLimits lowered to each rate-limited kind's
// allowance (a kind over budget gets 0: it is not claimed).
func (r *RateClaim) Apply(p *JobClaimParams) *JobClaimParams {
	if !r.Limited() {
		return p
	}
	out := *p
	out.KindLimits = make(map[string]int, len(p.KindLimits)+len(r.budgets))
	maps.Copy(out.KindLimits, p.KindLimits)
	for kind, b := range r.budgets {
		// An allowance of Max or more cannot bind a claim of at most Max
		// jobs: leaving it out keeps the claim the unlimited one (no
		// widened window, one round), so a limit that does not bind costs
		// only its budget's read and write.
		if b.allow >= p.Max {
			continue
		}
		if cur, ok := out.KindLimits[kind]; !ok || b.allow < cur {
			out.KindLimits[kind] = b.allow
		}
	}
	return &out
}

// KindBudget is the budget of one rate-limited kind during a claim, for a
// store that writes it in the claim's own statement: once the claim has
// taken n jobs of Kind (n > 0), the budget's theoretical arrival time is
// Base + n × Interval, as Taken returns it.
type KindBudget struct {
	Kind     string
	Base     time.Time
	Interval time.Duration
}

// KindBudgets returns the budget of each kind of r rate limited per kind
// (not per key), sorted by kind.
func (r *RateClaim) KindBudgets() []KindBudget {
	out := make([]KindBudget, 0, len(r.budgets))
	for kind, b := range r.budgets {
		out = append(out, KindBudget{Kind: kind, Base: b.limit.Take(b.tat, r.now, 0), Interval: b.limit.Interval()})
	}
	slices.SortFunc(out, func(a, b KindBudget) int { return strings.Compare(a.Kind, b.Kind) })
	return out
}

// Taken returns the new theoretical arrival times of the budgets the
// claim took jobs under (claimed), sorted by kind, then PerKey, then key:
// each rate-limited kind's, and each key's of a kind limited per key. It
// sets p.RateWait: how long from now until the first kind whose allowance
// the claim used up, or key whose budget held a job back, has its next
// slot (0 if none did).
func (r *RateClaim) Taken(p *JobClaimParams, claimed []*kilntype.JobRow) []RateWrite {
	p.RateWait = 0
	if !r.Limited() {
		return nil
	}
	var writes []RateWrite
	wait := func(d time.Duration) {
		if d > 0 && (p.RateWait == 0 || d < p.RateWait) {
			p.RateWait = d
		}
	}
	taken := make(map[string]int, len(r.budgets))
	for _, j := range claimed {
		if _, ok := r.budgets[j.Kind]; ok {
			taken[j.Kind]++
		}
	}
	for kind, b := range r.budgets {
		tat := b.tat
		if n := taken[kind]; n > 0 {
			tat = b.limit.Take(b.tat, r.now, n)
			writes = append(writes, RateWrite{Kind: kind, TAT: tat})
		}
		if taken[kind] >= b.allow {
			wait(b.limit.NextSlot(tat, r.now).Sub(r.now))
		}
	}
	for kind, kb := range r.keys {
		for key, b := range kb.keys {
			tat := b.tat
			if n := kb.taken[key]; n > 0 {
				tat = b.limit.Take(b.tat, r.now, n)
				writes = append(writes, RateWrite{Kind: kind, PerKey: true, Key: key, TAT: tat})
			}
			if kb.held[key] {
				wait(b.limit.NextSlot(tat, r.now).Sub(r.now))
			}
		}
	}
	slices.SortFunc(writes, func(a, b RateWrite) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), compareBool(a.PerKey, b.PerKey), strings.Compare(a.Key, b.Key))
	})
	return writes
}

// compareBool orders false before true.
func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
