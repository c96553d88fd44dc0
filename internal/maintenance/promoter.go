package maintenance

import (
	"context"

	"github.com/kilnjobs/kiln/store"
)

// scheduler moves scheduled and retryable jobs whose time has come to
// available. Claims take due jobs in those states directly, so the scheduler
// does not gate when a job runs; it keeps the states that users see true.
func (s *Services) scheduler() Task {
	return Task{Name: "scheduler", Interval: s.cfg.ScheduleInterval, Run: func(ctx context.Context) (int, error) {
		return s.cfg.Store.JobScheduleDue(ctx, &store.JobScheduleDueParams{Now: s.cfg.Now(), Max: batchSize})
	}}
}
