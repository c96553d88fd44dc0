package maintenance

import (
	"context"

	"github.com/kilnjobs/kiln/store"
)

// promoter moves scheduled and retryable jobs whose time has come to
// available. Claims take due jobs in those states directly, so the promoter
// does not gate when a job runs; it keeps the states that users see true.
// (The recurring scheduler, which enqueues the occurrences of recurring
// entries, is internal/recurring.)
func (s *Services) promoter() Task {
	return Task{Name: "promoter", Interval: s.cfg.ScheduleInterval, Run: func(ctx context.Context) (int, error) {
		return s.cfg.Store.JobScheduleDue(ctx, &store.JobScheduleDueParams{Now: s.cfg.Now(), Max: batchSize})
	}}
}
