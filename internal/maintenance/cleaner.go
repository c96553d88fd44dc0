package maintenance

import (
	"context"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// cleaner deletes finished jobs, with their attempts, once they are older
// than their state's retention (Hangfire expires succeeded jobs after a day),
// then the recurring occurrences and batches whose jobs are all gone.
func (s *Services) cleaner() Task {
	return Task{Name: "cleaner", Interval: s.cfg.CleanInterval, Run: func(ctx context.Context) (int, error) {
		now := s.cfg.Now()
		if rs, ok := s.cfg.Store.(store.ServiceStore); ok {
			// Reports of processes gone for a day.
			if _, err := rs.ServiceDeleteStale(ctx, now.Add(-24*time.Hour)); err != nil {
				return 0, err
			}
		}
		n, err := s.cfg.Store.JobDeleteFinished(ctx, &store.JobDeleteFinishedParams{
			CompletedBefore: now.Add(-s.cfg.CompletedRetention),
			CancelledBefore: now.Add(-s.cfg.CancelledRetention),
			DiscardedBefore: now.Add(-s.cfg.DiscardedRetention),
			Max:             batchSize,
		})
		if err != nil || n == batchSize {
			return n, err // more jobs first: the pass repeats at once
		}
		if ps, ok := s.cfg.Store.(store.PruneStore); ok {
			// The rows that outlive their jobs: recurring occurrences (one
			// per run) and batches, once older than any job is kept.
			before := now.Add(-max(s.cfg.CompletedRetention, s.cfg.CancelledRetention, s.cfg.DiscardedRetention))
			o, err := ps.RecurringOccurrenceDeleteOld(ctx, before, batchSize)
			if err != nil {
				return 0, err
			}
			b, err := ps.BatchDeleteOld(ctx, before, batchSize)
			if err != nil {
				return 0, err
			}
			n = max(n, o, b)
		}
		return n, nil
	}}
}
