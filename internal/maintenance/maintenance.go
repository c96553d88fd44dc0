// Package maintenance holds the background maintenance services. The
// elected leader runs those that New returns: the promoter (makes due
// scheduled and retryable jobs available), the cleaner (deletes old
// finished jobs), the resolver (releases continuations whose parents
// ended), the reaper (removes servers that stopped refreshing their
// registry row), the stats folder (folds the job counters
// and expires their history) and the vacuumer (has the store vacuum the
// jobs table after a burn-down). Every process runs the rescuer (NewRescuer:
// takes back jobs whose process died), so that a rescue never waits for an
// election. Each lives in a file of its own and runs as a periodic task
// under one start/stop contract.
package maintenance

import (
	"context"
	"log/slog"
	"time"

	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Config configures the maintenance services. Zero intervals and
// retentions are invalid: the client fills in its documented defaults.
type Config struct {
	Store  store.Store
	Now    func() time.Time
	Logger *slog.Logger

	ScheduleInterval time.Duration
	RescueInterval   time.Duration
	CleanInterval    time.Duration

	CompletedRetention time.Duration
	CancelledRetention time.Duration
	DiscardedRetention time.Duration
	// Retention (optional) holds the rules of the process's Config, per
	// state, kind and queue; the cleaner merges the store's rules over
	// them and over the three retentions above on every pass.
	Retention []kilntype.RetentionRule
	// AuditRetention is how long audit entries are kept; 0 or negative
	// keeps them forever.
	AuditRetention time.Duration
	// BulkRetention is how long bulk operations are kept once they ended
	// (completed, cancelled or failed); 0 or negative keeps them forever.
	BulkRetention time.Duration

	// ServerTTL is how long a server (a registered process) may go without
	// a refresh before the reaper deletes its row; required.
	ServerTTL time.Duration

	// OnRescued (optional) is called with the jobs the rescuer took back.
	OnRescued func(rows []*kilntype.JobRow)
	// OnReleased (optional) is called with the continuations the resolver
	// released.
	OnReleased func(rows []*kilntype.JobRow)
}

// batchSize bounds the rows one maintenance statement touches, so that a
// backlog is worked off in short transactions.
const batchSize = 1000

// Task is one periodic maintenance task.
type Task struct {
	Name     string
	Interval time.Duration
	// Timeout bounds each Run; 0 means service.CallTimeout.
	Timeout time.Duration
	// Run does one pass and returns how many rows it touched; a pass that
	// touched a full batch is repeated at once.
	Run func(ctx context.Context) (int, error)
}

// Services runs the maintenance tasks. Create it with New.
type Services struct {
	cfg     Config
	tasks   []Task
	runners []service.Runner
	// cleaned is the cleaner's place in the jobs table, and repeats the
	// passes in a row that went no further than the jobs; only the
	// cleaner's task reads and writes them.
	cleaned store.CleanProgress
	repeats int
}

// New returns the leader's services for cfg: the promoter, cleaner,
// resolver, reaper, stats folder and vacuumer; Start runs them.
func New(cfg Config) *Services {
	s := &Services{cfg: cfg}
	s.tasks = []Task{s.promoter(), s.cleaner(), s.resolver(), s.reaper(), s.statsFolder(), s.vacuumer()}
	s.runners = make([]service.Runner, len(s.tasks))
	return s
}

// NewRescuer returns the rescuer alone, which every process runs, leader
// or not: the store's rescue is safe to run from many processes at once (it
// takes each expired job once, see store.Store.JobRescueExpired), so a job
// whose process died is taken back at most RescueInterval after its lease
// ended, however long the election of a new leader takes. Start runs it.
func NewRescuer(cfg Config) *Services {
	s := &Services{cfg: cfg}
	s.tasks = []Task{s.rescuer()}
	s.runners = make([]service.Runner, len(s.tasks))
	return s
}

// Start starts every task.
func (s *Services) Start(ctx context.Context) {
	for i, t := range s.tasks {
		s.runners[i].Start(ctx, func(ctx context.Context) {
			service.Every(ctx, t.Interval, func(ctx context.Context) { s.pass(ctx, t) })
		})
	}
}

// Stop stops every task and waits for them.
func (s *Services) Stop() {
	for i := range s.runners {
		s.runners[i].Stop()
	}
}

func (s *Services) pass(ctx context.Context, t Task) {
	for ctx.Err() == nil {
		var (
			n   int
			err error
		)
		bound := t.Timeout
		if bound == 0 {
			bound = service.CallTimeout
		}
		service.Bounded(ctx, bound, func(ctx context.Context) { n, err = t.Run(ctx) })
		if err != nil {
			if !service.Stopping(ctx) {
				s.cfg.Logger.Error("kiln: maintenance pass failed; will retry", "task", t.Name, "err", err)
			}
			return
		}
		if n < batchSize {
			return
		}
	}
}
