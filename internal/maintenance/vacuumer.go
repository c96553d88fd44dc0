package maintenance

import (
	"context"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// VacuumInterval is how often the leader asks the store whether the jobs
// table needs a vacuum (store.PruneStore.JobVacuum): on PostgreSQL one
// statement that reads the server's statistics and the counters, and a
// VACUUM of kiln_job only after many jobs ran while few wait.
const VacuumInterval = 2 * time.Second

// VacuumMinDead is the fewest dead row versions of the jobs table for
// which the vacuumer has the store vacuum it (see JobVacuum's other
// conditions): a burn-down of 5,000 jobs leaves about 10,000.
const VacuumMinDead = 10_000

// VacuumTimeout bounds each pass of the vacuumer, instead of
// service.CallTimeout (30 s): a VACUUM of a jobs table of millions of rows
// and its indexes takes minutes, and one cut short loses its work and
// starts again at the next pass (on PostgreSQL it also takes down the
// connection it ran on: the process's LISTEN connection, which then
// reconnects). An hour still ends a call that hangs.
const VacuumTimeout = time.Hour

// vacuumer has the store remove the dead versions of job rows, and the
// index entries that point at them, after a burn-down, so that the claims
// of the now idle queues stop reading past them (issue 11).
func (s *Services) vacuumer() Task {
	return Task{Name: "vacuum", Interval: VacuumInterval, Timeout: VacuumTimeout, Run: func(ctx context.Context) (int, error) {
		began := time.Now()
		r, err := s.cfg.Store.JobVacuum(ctx, &store.JobVacuumParams{MinDead: VacuumMinDead})
		if err == nil && r.Vacuumed {
			s.cfg.Logger.Info("kiln: vacuumed the jobs table", "dead", r.Dead, "live", r.Live,
				"available", r.Available, "took", time.Since(began))
		}
		return 0, err
	}}
}
