package maintenance

import (
	"context"

	"github.com/kilnjobs/kiln/store"
)

// cleaner deletes finished jobs, with their attempts, once they are older
// than their state's retention (Hangfire expires succeeded jobs after a day).
func (s *Services) cleaner() Task {
	return Task{Name: "cleaner", Interval: s.cfg.CleanInterval, Run: func(ctx context.Context) (int, error) {
		now := s.cfg.Now()
		return s.cfg.Store.JobDeleteFinished(ctx, &store.JobDeleteFinishedParams{
			CompletedBefore: now.Add(-s.cfg.CompletedRetention),
			CancelledBefore: now.Add(-s.cfg.CancelledRetention),
			DiscardedBefore: now.Add(-s.cfg.DiscardedRetention),
			Max:             batchSize,
		})
	}}
}
