package kiln

import (
	"context"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// RetentionRule says how long finished jobs of one state are kept for one
// kind, one queue, or one kind in one queue; re-exported from kilntype. Set
// rules in code with Config.Retention, or at run time with
// Client.RetentionSet (stored, so that the cleaner of whichever process
// leads obeys them; they win over Config's).
type RetentionRule = kilntype.RetentionRule

// KeepForever as a RetentionRule's Keep keeps the matching jobs forever;
// re-exported from kilntype.
const KeepForever = kilntype.KeepForever

// configRetention returns the rules of the Config: its three per-state
// retentions, then Config.Retention.
func (cfg *Config) configRetention() []RetentionRule {
	rules := []RetentionRule{
		{State: JobStateCompleted, Keep: cfg.CompletedRetention},
		{State: JobStateCancelled, Keep: cfg.CancelledRetention},
		{State: JobStateDiscarded, Keep: cfg.DiscardedRetention},
	}
	return append(rules, cfg.Retention...)
}

// validateRetention checks Config.Retention: valid rules, one per key.
func validateRetention(rules []RetentionRule) error {
	seen := make(map[string]bool, len(rules))
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("kiln: Config.Retention: %w", err)
		}
		if seen[r.Key()] {
			return fmt.Errorf("kiln: Config.Retention: two rules for state %s, kind %q, queue %q", r.State, r.Kind, r.Queue)
		}
		seen[r.Key()] = true
	}
	return nil
}

// RetentionList returns the retention rules in effect, ordered by state,
// kind and queue: the per-state retentions and Config.Retention of this
// process (Source "config"), and the rules set at run time (Source
// "database", with UpdatedAt), which replace a config rule of the same
// state, kind and queue. The cleaner of the leading process uses its own
// Config with the same stored rules.
func (c *Client) RetentionList(ctx context.Context) ([]*RetentionRule, error) {
	stored, err := c.cfg.Store.RetentionList(ctx)
	if err != nil {
		return nil, fmt.Errorf("kiln: list retention rules: %w", err)
	}
	return store.MergeRetention(c.cfg.configRetention(), stored), nil
}

// RetentionSet stores rule for every process sharing the store, replacing
// the stored rule of the same state, kind and queue; it wins over a
// Config rule of that key from the cleaner's next pass (every
// Config.CleanInterval). A rule with empty Kind and Queue replaces the
// state's retention (Config.CompletedRetention and its siblings). It
// returns an error if the rule is invalid (see RetentionRule.Validate).
func (c *Client) RetentionSet(ctx context.Context, rule RetentionRule) error {
	rule.Source, rule.UpdatedAt = "", nil
	if err := rule.Validate(); err != nil {
		return fmt.Errorf("kiln: %w", err)
	}
	if err := c.cfg.Store.RetentionSet(ctx, &store.RetentionSetParams{Rule: rule, Now: c.now()}); err != nil {
		return fmt.Errorf("kiln: set retention rule: %w", err)
	}
	keep := rule.Keep.String()
	if rule.Forever() {
		keep = "forever"
	}
	c.audit(ctx, AuditRetentionSet, string(rule.State)+kilntype.RetentionScope(rule.Kind, rule.Queue), map[string]any{"state": rule.State, "kind": rule.Kind, "queue": rule.Queue, "keep": keep})
	return nil
}

// RetentionDelete deletes the stored rule of state, kind and queue (a
// Config rule of that key, if any, applies again), and reports whether
// there was one.
func (c *Client) RetentionDelete(ctx context.Context, state JobState, kind, queue string) (bool, error) {
	ok, err := c.cfg.Store.RetentionDelete(ctx, &store.RetentionDeleteParams{State: state, Kind: kind, Queue: queue})
	if err != nil {
		return false, fmt.Errorf("kiln: delete retention rule: %w", err)
	}
	c.audit(ctx, AuditRetentionDelete, string(state)+kilntype.RetentionScope(kind, queue),
		map[string]any{"state": state, "kind": kind, "queue": queue, "found": ok})
	return ok, nil
}
