package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/store"
)

// sqlSkipInsert records skips of entry $1 at $7: one row per element of
// the arrays $2 (occurrence), $3 (through), $4 (count), $5 (reason), $6
// (policy). A skip at a time the entry already has one is left as it is.
const sqlSkipInsert = `INSERT INTO {s}.kiln_recurring_skip
	(recurring_id, occurrence_at, through_at, skipped, reason, policy, recorded_at)
SELECT $1, o, t, n, r, p, $7
FROM unnest($2::timestamptz[], $3::timestamptz[], $4::integer[], $5::text[], $6::text[]) AS u(o, t, n, r, p)
ON CONFLICT DO NOTHING`

// sqlSkipPrune deletes entry $1's skips older than its newest $2, reading
// the primary key's range of the entry from its newest end.
const sqlSkipPrune = `DELETE FROM {s}.kiln_recurring_skip
WHERE recurring_id = $1 AND occurrence_at < (
	SELECT occurrence_at FROM {s}.kiln_recurring_skip
	WHERE recurring_id = $1 ORDER BY occurrence_at DESC OFFSET $2 - 1 LIMIT 1)`

// sqlSkipList returns entry $1's newest $2 skips.
const sqlSkipList = `SELECT occurrence_at, through_at, skipped, reason, policy, recorded_at
FROM {s}.kiln_recurring_skip
WHERE recurring_id = $1
ORDER BY occurrence_at DESC
LIMIT $2`

// queueSkips queues in b the writes of the skips of one enqueue: the
// occurrences results skipped as overlaps and params.Skips, then the
// prune of the entry's older ones. It queues nothing when there is none.
func (s *Store) queueSkips(b *pgx.Batch, params *store.RecurringEnqueueParams, results []store.RecurringOccurrenceResult) {
	var (
		at, through     []time.Time
		counts          []int32
		reasons, policy []string
	)
	for _, r := range results {
		if r.Skipped == store.SkipOverlap {
			at, through = append(at, r.At), append(through, r.At)
			counts = append(counts, 1)
			reasons, policy = append(reasons, store.SkipOverlap), append(policy, string(params.Overlap))
		}
	}
	for _, k := range params.Skips {
		at, through = append(at, truncate(k.At)), append(through, truncate(k.Through))
		counts = append(counts, int32(max(k.Count, 1)))
		reasons, policy = append(reasons, k.Reason), append(policy, k.Policy)
	}
	if len(at) == 0 {
		return
	}
	b.Queue(s.sql(sqlSkipInsert), params.ID, at, through, counts, reasons, policy, truncate(params.Now))
	b.Queue(s.sql(sqlSkipPrune), params.ID, store.MaxRecurringSkips)
}

// RecurringSkipList returns the newest skips of entry params.ID, by
// occurrence time, at most params.Limit (0 or less means
// store.DefaultListLimit, more than store.MaxListLimit is cut to it). An
// unknown entry gives an empty list.
func (s *Store) RecurringSkipList(ctx context.Context, params *store.RecurringSkipListParams) ([]*store.RecurringSkip, error) {
	what := fmt.Sprintf("list skips of recurring entry %q", params.ID)
	rows, err := s.pool.Query(ctx, s.sql(sqlSkipList), params.ID, listLimit(params.Limit))
	if err != nil {
		return nil, fail(what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.RecurringSkip, error) {
		k := &store.RecurringSkip{RecurringID: params.ID}
		if err := row.Scan(&k.At, &k.Through, &k.Count, &k.Reason, &k.Policy, &k.RecordedAt); err != nil {
			return nil, err
		}
		k.At, k.Through, k.RecordedAt = k.At.UTC(), k.Through.UTC(), k.RecordedAt.UTC()
		return k, nil
	})
	if err != nil {
		return nil, fail(what, err)
	}
	if out == nil {
		out = []*store.RecurringSkip{}
	}
	return out, nil
}
