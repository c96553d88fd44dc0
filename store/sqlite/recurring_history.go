package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kilnjobs/kiln/store"
)

// sqlSkipInsert records a skip of entry ?1 at ?2, through ?3, ?4
// occurrences, for reason ?5 under policy ?6, at ?7. A skip at a time the
// entry already has one is left as it is.
const sqlSkipInsert = `INSERT INTO kiln_recurring_skip
	(recurring_id, occurrence_at, through_at, skipped, reason, policy, recorded_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT DO NOTHING`

// sqlSkipPrune deletes entry ?1's skips older than its newest ?2, reading
// the primary key's range of the entry from its newest end.
const sqlSkipPrune = `DELETE FROM kiln_recurring_skip
WHERE recurring_id = ?1 AND occurrence_at < (
	SELECT occurrence_at FROM kiln_recurring_skip
	WHERE recurring_id = ?1 ORDER BY occurrence_at DESC LIMIT 1 OFFSET ?2 - 1)`

// sqlSkipList returns entry ?1's newest ?2 skips.
const sqlSkipList = `SELECT occurrence_at, through_at, skipped, reason, policy, recorded_at
FROM kiln_recurring_skip
WHERE recurring_id = ?1
ORDER BY occurrence_at DESC
LIMIT ?2`

// writeSkips records in tx the skips of one enqueue: the occurrences
// results skipped as overlaps and params.Skips, then prunes the entry's
// older ones. It writes nothing when there is none.
func writeSkips(ctx context.Context, tx *sql.Tx, params *store.RecurringEnqueueParams, results []store.RecurringOccurrenceResult) error {
	skips := make([]store.RecurringSkip, 0, len(params.Skips))
	for _, r := range results {
		if r.Skipped == store.SkipOverlap {
			skips = append(skips, store.RecurringSkip{At: r.At, Through: r.At, Count: 1,
				Reason: store.SkipOverlap, Policy: string(params.Overlap)})
		}
	}
	skips = append(skips, params.Skips...)
	if len(skips) == 0 {
		return nil
	}
	for _, k := range skips {
		_, err := tx.ExecContext(ctx, sqlSkipInsert, params.ID, micros(k.At), micros(k.Through),
			max(k.Count, 1), k.Reason, k.Policy, micros(params.Now))
		if err != nil {
			return fmt.Errorf("record skip: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, sqlSkipPrune, params.ID, store.MaxRecurringSkips); err != nil {
		return fmt.Errorf("prune skips: %w", err)
	}
	return nil
}

// RecurringSkipList returns the newest skips of entry params.ID, by
// occurrence time, at most params.Limit (0 or less means
// store.DefaultListLimit, more than store.MaxListLimit is cut to it). An
// unknown entry gives an empty list. It reads from the reader pool.
func (s *Store) RecurringSkipList(ctx context.Context, params *store.RecurringSkipListParams) ([]*store.RecurringSkip, error) {
	what := fmt.Sprintf("list skips of recurring entry %q", params.ID)
	rows, err := s.r.QueryContext(ctx, sqlSkipList, params.ID, listLimit(params.Limit))
	if err != nil {
		return nil, fail(what, err)
	}
	defer rows.Close()
	out := []*store.RecurringSkip{}
	for rows.Next() {
		k := &store.RecurringSkip{RecurringID: params.ID}
		var at, through, recorded int64
		if err := rows.Scan(&at, &through, &k.Count, &k.Reason, &k.Policy, &recorded); err != nil {
			return nil, fail(what, err)
		}
		k.At, k.Through, k.RecordedAt = fromMicros(at), fromMicros(through), fromMicros(recorded)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(what, err)
	}
	return out, nil
}
