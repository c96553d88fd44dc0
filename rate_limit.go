package kiln

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// RateLimit is a cluster-wide budget of job starts: at most Limit jobs of a
// kind started per Period, plus Burst, by all the processes sharing the
// store together. It is kept with GCRA (the generic cell rate algorithm,
// as in Brandur Leach's throttled and redis-cell); see kilntype.RateLimit
// and docs/flow-control.md.
type RateLimit = kilntype.RateLimit

// RateLimitState is a kind's rate limit as Client.RateLimitList shows it:
// the limit in force, the worker's default, the run-time override, and the
// budget's use and next slot; re-exported from kilntype.
type RateLimitState = kilntype.RateLimitState

// MaxRateLimitPeriod is the longest RateLimit.Period: 366 days.
// RateLimit.Validate refuses a longer one with a *ValidationError (Field
// "period"), and so do Client.RateLimitSet and AddWorker for a
// RateLimiter's limit. Re-exported from kilntype.
const MaxRateLimitPeriod = kilntype.MaxRateLimitPeriod

// MaxRateLimitBucket bounds the time a spent rate budget takes to fill
// again, (Burst+1) × Period/Limit: 100 years of 365 days
// (RateLimit.Validate refuses a larger Burst, field "burst"). Re-exported
// from kilntype.
const MaxRateLimitBucket = kilntype.MaxRateLimitBucket

// RateLimiter is implemented by a Worker whose kind has a rate limit by
// default: jobs of the kind start at most RateLimit().Limit per Period
// (plus Burst) across every process sharing the store. A job over the
// budget is not claimed: it stays available, and the process claims it
// when the budget's next slot opens. A limit set at run time
// (Client.RateLimitSet, the HTTP API, the CLI, the dashboard) beats this
// default until removed. Each process running the kind should return the
// same value; the zero RateLimit means no default.
type RateLimiter interface {
	RateLimit() RateLimit
}

// WorkerWithPartitionRateLimit is implemented by a Worker whose kind has
// a rate limit for each partition key by default: jobs of the kind with
// the same key (JobRow.Partition, set by EnqueueOpts.Partition or the
// args' Partitioner) start at most PartitionRateLimit().Limit per Period
// (plus Burst) across every process sharing the store, each key with a
// budget of its own; the jobs without a key share the budget of the key
// "". A job whose key is over budget is not claimed: it stays available,
// and the claim takes other keys' jobs instead (the kind is claimed by
// key in rotation, as with WorkerWithFairPartitions). It works alongside
// the kind's own RateLimiter (both budgets must have room) and
// PartitionMaxConcurrency. A limit set at run time
// (Client.RateLimitSet with perKey) beats this default until removed.
// Each process running the kind should return the same value; the zero
// RateLimit means no default. See docs/flow-control.md.
type WorkerWithPartitionRateLimit interface {
	PartitionRateLimit() RateLimit
}

// The actions of rate limits recorded in the audit log (see Actor).
const (
	AuditRateLimitSet    = "rate_limit.set"    // target: the kind; detail: per_key, limit, period, burst
	AuditRateLimitRemove = "rate_limit.remove" // target: the kind; detail: per_key
)

// rateLimitRefresh is how often a started client reads which of its kinds
// have a limit set at run time, for the kinds whose worker declares none:
// such a limit reaches a process's claims within this time (at once for
// the process that set it). Kinds with a default in code read their
// run-time limit at every claim.
const rateLimitRefresh = 10 * time.Second

// RateLimitSet sets the rate limit of kind at run time, for every process
// sharing the store, replacing the worker's default (RateLimiter, or with
// perKey WorkerWithPartitionRateLimit) and any limit set before, until
// RateLimitRemove. With perKey the limit is the budget of each partition
// key of the kind (the jobs without a key sharing the key ""'s), and the
// kind's own limit, if any, still holds too. Claims of the kind obey it
// from their next claim (a process whose worker declares no default of
// that sort learns of it within 10 s). The budgets' state is kept: the
// starts already counted are a debt of time under the new limit, up to
// the new limit's full bucket. limit must be enabled and valid
// (RateLimit.Validate); errors wrap a *ValidationError. A call whose
// context carries an Actor is recorded in the audit log.
func (c *Client) RateLimitSet(ctx context.Context, kind string, perKey bool, limit RateLimit) error {
	if err := validateKind(kind); err != nil {
		return fmt.Errorf("kiln: set rate limit: %w", err)
	}
	p := &store.RateLimitSetParams{Kind: kind, PerKey: perKey, Limit: limit, Now: c.now()}
	if err := c.cfg.Store.RateLimitSet(ctx, p); err != nil {
		return fmt.Errorf("kiln: set rate limit of %q: %w", kind, err)
	}
	c.rates.add(kind, perKey)
	c.audit(ctx, AuditRateLimitSet, kind, map[string]any{"per_key": perKey, "limit": limit.Limit,
		"period": limit.Period.String(), "burst": limit.Burst})
	c.wakeAll()
	return nil
}

// RateLimitRemove removes the rate limit of kind (of each of its keys with
// perKey) set at run time, so that the worker's default applies again; an
// error wrapping ErrNotFound when none is set, and one wrapping a
// *ValidationError of "kind" for a kind no job can have (as
// RateLimitSet refuses it). A call whose context carries an Actor is
// recorded in the audit log.
func (c *Client) RateLimitRemove(ctx context.Context, kind string, perKey bool) error {
	if err := validateKind(kind); err != nil {
		return fmt.Errorf("kiln: remove rate limit: %w", err)
	}
	if err := c.cfg.Store.RateLimitDelete(ctx, kind, perKey); err != nil {
		return fmt.Errorf("kiln: remove rate limit of %q: %w", kind, err)
	}
	c.audit(ctx, AuditRateLimitRemove, kind, map[string]any{"per_key": perKey})
	c.wakeAll()
	return nil
}

// RateLimitList returns the rate limits of every kind that has one, by
// kind (the kind's own before its per-key one): each kind whose worker,
// registered with this client, declares a default (RateLimiter), and each
// kind with a limit set at run time or a budget in use, with the limit in
// force, the budget's use and its next slot read from the store at once
// (on the database's clock on PostgreSQL). A kind whose worker is not
// registered here shows the Default that the live processes running it
// published in the server registry (ServerRow.Limits; see KindLimits),
// none when no live process runs it.
func (c *Client) RateLimitList(ctx context.Context) ([]*RateLimitState, error) {
	defaults, err := c.knownRateDefaults(ctx)
	if err != nil {
		return nil, fmt.Errorf("kiln: list rate limits: %w", err)
	}
	// Every kind with a run-time limit or a budget, then the kinds with a
	// default that have neither: the store restricts a list of named
	// kinds to them.
	rows, err := c.cfg.Store.RateLimitList(ctx, &store.RateLimitListParams{Now: c.now()})
	if err != nil {
		return nil, fmt.Errorf("kiln: list rate limits: %w", err)
	}
	type kindKey struct {
		kind   string
		perKey bool
	}
	listed := make(map[kindKey]bool, len(rows))
	for _, r := range rows {
		listed[kindKey{r.Kind, r.PerKey}] = true
	}
	var missing []string
	for perKey, byKind := range defaults {
		for k := range byKind {
			if !listed[kindKey{k, perKey}] && !slices.Contains(missing, k) {
				missing = append(missing, k)
			}
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		more, err := c.cfg.Store.RateLimitList(ctx, &store.RateLimitListParams{Kinds: missing, Now: c.now()})
		if err != nil {
			return nil, fmt.Errorf("kiln: list rate limits: %w", err)
		}
		for _, r := range more {
			if !listed[kindKey{r.Kind, r.PerKey}] {
				rows = append(rows, r)
			}
		}
		slices.SortFunc(rows, func(a, b *store.RateLimitRow) int {
			if c := strings.Compare(a.Kind, b.Kind); c != 0 {
				return c
			}
			return cmpBool(a.PerKey, b.PerKey)
		})
	}
	out := make([]*RateLimitState, 0, len(rows))
	for _, r := range rows {
		st := rateLimitState(r, defaults)
		if st.Limit.Enabled() || st.Used > 0 {
			out = append(out, st)
		}
	}
	return out, nil
}

// RateLimitGet returns the rate limit of kind (of each of its keys with
// perKey) as RateLimitList does; its Limit is the zero RateLimit when the
// kind has none. A kind no job can have (as RateLimitSet refuses it) is
// an error wrapping a *ValidationError of "kind", on every store.
func (c *Client) RateLimitGet(ctx context.Context, kind string, perKey bool) (*RateLimitState, error) {
	if err := validateKind(kind); err != nil {
		return nil, fmt.Errorf("kiln: get rate limit: %w", err)
	}
	rows, err := c.cfg.Store.RateLimitList(ctx, &store.RateLimitListParams{Kinds: []string{kind}, Now: c.now()})
	if err != nil {
		return nil, fmt.Errorf("kiln: get rate limit of %q: %w", kind, err)
	}
	defaults, err := c.knownRateDefaults(ctx)
	if err != nil {
		return nil, fmt.Errorf("kiln: get rate limit of %q: %w", kind, err)
	}
	for _, r := range rows {
		if r.PerKey == perKey {
			return rateLimitState(r, defaults), nil
		}
	}
	return &RateLimitState{Kind: kind, PerKey: perKey, At: c.now()}, nil
}

// rateLimitState is the state of row, with the default of defaults
// (rateDefaults).
func rateLimitState(r *store.RateLimitRow, defaults map[bool]map[string]RateLimit) *RateLimitState {
	st := &RateLimitState{Kind: r.Kind, PerKey: r.PerKey, Override: r.Override, UpdatedAt: r.UpdatedAt, At: r.Now}
	st.Default = defaults[r.PerKey][r.Kind]
	st.Limit = st.Default
	if r.Override != nil {
		st.Limit = *r.Override
	}
	st.Used = st.Limit.Used(r.TAT, r.Now)
	st.NextSlot = r.Now
	if st.Limit.Enabled() {
		st.NextSlot = st.Limit.NextSlot(r.TAT, r.Now)
	}
	return st
}

// rateDefaults returns the defaults of the rate-limited kinds of the
// client's workers: [false] the kinds' own (RateLimiter), [true] their
// keys' (WorkerWithPartitionRateLimit).
func (c *Client) rateDefaults() map[bool]map[string]RateLimit {
	return rateDefaultsOf(c.cfg.Workers.declaredLimits())
}

// knownRateDefaults returns the defaults, as rateDefaults does, of every
// kind this client knows of (knownLimits): its workers' and those the
// live processes published for the others.
func (c *Client) knownRateDefaults(ctx context.Context) (map[bool]map[string]RateLimit, error) {
	known, err := c.knownLimits(ctx)
	if err != nil {
		return nil, err
	}
	return rateDefaultsOf(slices.Collect(maps.Values(known))), nil
}

// rateDefaultsOf returns the default rate limits of limits: [false] per
// kind, [true] per key.
func rateDefaultsOf(limits []KindLimits) map[bool]map[string]RateLimit {
	out := map[bool]map[string]RateLimit{false: {}, true: {}}
	for _, l := range limits {
		if l.RateLimit != nil {
			out[false][l.Kind] = *l.RateLimit
		}
		if l.PartitionRateLimit != nil {
			out[true][l.Kind] = *l.PartitionRateLimit
		}
	}
	return out
}

// rateKinds is the set of a client's kinds whose claims apply a rate
// limit, per kind (store.JobClaimParams.RateLimits) and per key
// (KeyRateLimits): those whose worker declares a default, and those with
// a limit set at run time, which it reads from the store every
// rateLimitRefresh. It is safe for concurrent use.
type rateKinds struct {
	c        *Client
	defaults map[bool]map[string]RateLimit // read-only; by PerKey

	mu     sync.Mutex                    // guards the fields below
	limits map[bool]map[string]RateLimit // the claims' RateLimits [false] and KeyRateLimits [true]; replaced, never modified
	readAt time.Time                     // when the run-time limits were last read
}

// reset sets the defaults of the client's workers and forgets what was read.
func (r *rateKinds) reset(c *Client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.c, r.defaults = c, c.rateDefaults()
	r.limits, r.readAt = r.defaults, time.Time{}
}

// add makes kind's claims apply its run-time limit (per key with perKey),
// if kind has a worker here.
func (r *rateKinds) add(kind string, perKey bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c == nil {
		return
	}
	if _, ok := r.limits[perKey][kind]; ok {
		return
	}
	if _, ok := r.c.cfg.Workers.entry(kind); !ok {
		return
	}
	limits := map[bool]map[string]RateLimit{false: r.limits[false], true: r.limits[true]}
	limits[perKey] = maps.Clone(limits[perKey])
	if limits[perKey] == nil {
		limits[perKey] = map[string]RateLimit{}
	}
	limits[perKey][kind] = RateLimit{}
	r.limits = limits
}

// get returns the claims' RateLimits and KeyRateLimits (nil: none),
// reading the store's run-time limits first when rateLimitRefresh has
// passed since the last read. A failed read keeps the last sets, and is
// tried again at the next refresh.
func (r *rateKinds) get(ctx context.Context) (perKind, perKey map[string]RateLimit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c == nil {
		return nil, nil
	}
	now := r.c.now()
	if now.Sub(r.readAt) < rateLimitRefresh && !r.readAt.IsZero() {
		return nilIfEmpty(r.limits[false]), nilIfEmpty(r.limits[true])
	}
	r.readAt = now
	rows, err := r.c.cfg.Store.RateLimitList(ctx, &store.RateLimitListParams{Now: now})
	if err != nil {
		r.c.cfg.Logger.WarnContext(ctx, "kiln: cannot read the rate limits set at run time; retrying later", "err", err)
		return nilIfEmpty(r.limits[false]), nilIfEmpty(r.limits[true])
	}
	limits := map[bool]map[string]RateLimit{false: maps.Clone(r.defaults[false]), true: maps.Clone(r.defaults[true])}
	for _, row := range rows {
		if _, ok := limits[row.PerKey][row.Kind]; !ok && row.Override != nil {
			if _, ok := r.c.cfg.Workers.entry(row.Kind); ok {
				if limits[row.PerKey] == nil {
					limits[row.PerKey] = map[string]RateLimit{}
				}
				limits[row.PerKey][row.Kind] = RateLimit{}
			}
		}
	}
	r.limits = limits
	return nilIfEmpty(limits[false]), nilIfEmpty(limits[true])
}

// nilIfEmpty returns m, or nil when it is empty.
func nilIfEmpty(m map[string]RateLimit) map[string]RateLimit {
	if len(m) == 0 {
		return nil
	}
	return m
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
