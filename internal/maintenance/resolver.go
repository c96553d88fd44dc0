package maintenance

import (
	"context"

	"github.com/kilnjobs/kiln/store"
)

// resolver releases continuations and batch callbacks whose parents have
// all ended: to available, or to cancelled when a parent failed and the
// child's policy says so. It runs at the promoter's interval.
func (s *Services) resolver() Task {
	return Task{Name: "resolver", Interval: s.cfg.ScheduleInterval, Run: func(ctx context.Context) (int, error) {
		rows, err := s.cfg.Store.JobResolvePending(ctx, &store.JobResolvePendingParams{Now: s.cfg.Now(), Max: batchSize})
		if err != nil {
			return 0, err
		}
		if len(rows) > 0 && s.cfg.OnReleased != nil {
			s.cfg.OnReleased(rows)
		}
		return len(rows), nil
	}}
}
