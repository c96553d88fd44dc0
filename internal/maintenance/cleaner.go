package maintenance

import (
	"context"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// cleaner deletes finished jobs, with their attempts, once they are older
// than their state's retention (Hangfire expires succeeded jobs after a day).
func (s *Services) cleaner() Task {
	return Task{Name: "cleaner", Interval: s.cfg.CleanInterval, Run: func(ctx context.Context) (int, error) {
		now := s.cfg.Now()
		if rs, ok := s.cfg.Store.(store.ServiceStore); ok {
			// Reports of processes gone for a day.
			if _, err := rs.ServiceDeleteStale(ctx, now.Add(-24*time.Hour)); err != nil {
				return 0, err
			}
		}
		return s.cfg.Store.JobDeleteFinished(ctx, &store.JobDeleteFinishedParams{
			CompletedBefore: now.Add(-s.cfg.CompletedRetention),
			CancelledBefore: now.Add(-s.cfg.CancelledRetention),
			DiscardedBefore: now.Add(-s.cfg.DiscardedRetention),
			Max:             batchSize,
		})
	}}
}
