package maintenance

import (
	"context"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// StatsInterval is how often the leader folds the job counters
// (store.StatsStore.JobStatsFold): the attempts that ended since the
// previous fold go into the history of the current minute, so the history
// lags the jobs by at most this much; on PostgreSQL the counters' deltas
// move into their totals, which bounds the deltas a count reads. Counts are
// exact whenever it runs.
const StatsInterval = 2 * time.Second

// HistoryRetention is how long the per-minute throughput history is kept:
// at each fold, the minutes that started longer ago are deleted. A week of
// minutes is store.MaxHistoryPoints, the longest range of one JobHistory
// call at minute resolution.
const HistoryRetention = 7 * 24 * time.Hour

// statsFolder folds the job counters into the history of the current
// minute and deletes the history older than HistoryRetention (as
// Hangfire's counter aggregator folds its counters and expires them).
func (s *Services) statsFolder() Task {
	return Task{Name: "stats", Interval: StatsInterval, Run: func(ctx context.Context) (int, error) {
		now := s.cfg.Now()
		return s.cfg.Store.JobStatsFold(ctx, &store.JobStatsFoldParams{Now: now, HistoryBefore: now.Add(-HistoryRetention)})
	}}
}
