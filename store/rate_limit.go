package store

import (
	"context"
	"maps"
	"slices"
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
// (JobClaimParams.RateLimits), shared by the stores. A store, holding
// what serializes the claims of those kinds across processes, reads the
// kinds' run-time limits and budget states, makes a RateClaim with
// NewRateClaim, claims with the KindLimits of Apply, and writes back the
// theoretical arrival times of Taken in the same transaction.
type RateClaim struct {
	now     time.Time
	budgets map[string]*rateBudget // enabled limits only
}

// rateBudget is one kind's budget during a claim.
type rateBudget struct {
	limit kilntype.RateLimit
	tat   time.Time
	allow int // jobs the claim may take
}

// NewRateClaim returns the rate-limit part of a claim of p at now (the
// clock the store keeps budgets on), given the rows the store read for p's
// rate-limited kinds (rows of other kinds and per-key rows are ignored).
// A kind's limit is its row's Override when set, else p.RateLimits[kind].
func NewRateClaim(p *JobClaimParams, rows []*RateLimitRow, now time.Time) *RateClaim {
	r := &RateClaim{now: now, budgets: make(map[string]*rateBudget, len(p.RateLimits))}
	for kind, limit := range p.RateLimits {
		if limit.Enabled() {
			r.budgets[kind] = &rateBudget{limit: limit}
		}
	}
	for _, row := range rows {
		if row.PerKey {
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
	return r
}

// Limited reports whether some kind of the claim has a rate limit in force.
func (r *RateClaim) Limited() bool { return len(r.budgets) > 0 }

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

// Taken returns, for the rate-limited kinds of which claimed holds jobs,
// sorted by kind, their new theoretical arrival times, and sets p.RateWait:
// how long from now until the first kind whose allowance the claim used
// up has its next slot (0 if none did).
func (r *RateClaim) Taken(p *JobClaimParams, claimed []*kilntype.JobRow) (kinds []string, tats []time.Time) {
	p.RateWait = 0
	if !r.Limited() {
		return nil, nil
	}
	taken := make(map[string]int, len(r.budgets))
	for _, j := range claimed {
		if _, ok := r.budgets[j.Kind]; ok {
			taken[j.Kind]++
		}
	}
	for _, kind := range slices.Sorted(maps.Keys(r.budgets)) {
		b := r.budgets[kind]
		tat := b.tat
		if n := taken[kind]; n > 0 {
			tat = b.limit.Take(b.tat, r.now, n)
			kinds, tats = append(kinds, kind), append(tats, tat)
		}
		if taken[kind] >= b.allow {
			wait := b.limit.NextSlot(tat, r.now).Sub(r.now)
			if wait > 0 && (p.RateWait == 0 || wait < p.RateWait) {
				p.RateWait = wait
			}
		}
	}
	return kinds, tats
}
