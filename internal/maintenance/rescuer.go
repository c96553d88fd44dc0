package maintenance

import (
	"context"

	"github.com/kilnjobs/kiln/store"
)

// rescuer takes back running jobs whose lease expired because their process
// stopped renewing it (it died, or lost the database for longer than a
// lease): they become retryable at once, or discarded when out of attempts.
func (s *Services) rescuer() Task {
	return Task{Name: "rescuer", Interval: s.cfg.RescueInterval, Run: func(ctx context.Context) (int, error) {
		rows, err := s.cfg.Store.JobRescueExpired(ctx, &store.JobRescueExpiredParams{Now: s.cfg.Now(), Max: batchSize})
		if err != nil {
			return 0, err
		}
		for _, r := range rows {
			s.cfg.Logger.Warn("kiln: rescued job whose lease expired", "job_id", r.ID, "kind", r.Kind, "state", r.State)
		}
		if len(rows) > 0 && s.cfg.OnRescued != nil {
			s.cfg.OnRescued(rows)
		}
		return len(rows), nil
	}}
}
