// Package leader elects one process among those sharing a store to run the
// maintenance services. The leader holds a term of TTL that it renews every
// third of TTL; when it stops renewing (it died), another process is elected
// once the term expires. A graceful stop resigns at once. The store times
// terms: the PostgreSQL store on the database's clock, so that hosts whose
// clocks disagree cannot both lead (see store.Store.LeaderAttemptElect).
package leader

import (
	"context"
	"log/slog"
	"time"

	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/store"
)

// Config configures an Elector. Every field is required.
type Config struct {
	Store    store.Store
	Name     string // what is led, e.g. "maintenance"
	LeaderID string
	TTL      time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
	// OnElected is called when this process becomes leader, with a context
	// that is cancelled when it stops being leader. It must return promptly.
	OnElected func(ctx context.Context)
	// OnDeposed is called when this process stops being leader, and must
	// return only once the leader's work has stopped.
	OnDeposed func()
}

// Elector campaigns for leadership. Create it with New.
type Elector struct {
	cfg    Config
	runner service.Runner
}

// New returns an Elector; Start runs it.
func New(cfg Config) *Elector { return &Elector{cfg: cfg} }

// Start starts campaigning.
func (e *Elector) Start(ctx context.Context) { e.runner.Start(ctx, e.run) }

// Stop stops campaigning, stops the leader's work and resigns.
func (e *Elector) Stop() { e.runner.Stop() }

func (e *Elector) run(ctx context.Context) {
	leading := false
	var leadCancel context.CancelFunc
	depose := func() {
		if leading {
			leadCancel()
			e.cfg.OnDeposed()
			leading = false
		}
	}
	defer func() {
		if leading {
			depose()
			resignCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := e.cfg.Store.LeaderResign(resignCtx, &store.LeaderResignParams{Name: e.cfg.Name, LeaderID: e.cfg.LeaderID}); err != nil {
				e.cfg.Logger.Warn("kiln: cannot resign leadership; another process takes over when the term expires", "err", err)
			}
		}
	}()
	// termBegan is when the call that last elected or renewed this process
	// began (this host's monotonic clock): its term runs at least TTL from
	// then, since the store stamps the term during the call.
	var termBegan time.Time
	service.Every(ctx, e.cfg.TTL/3, func(ctx context.Context) {
		// A renewal that takes longer than a third of the term counts as
		// failed, and so does one still under way two thirds of the term
		// after the last successful one began (a renewal that started late,
		// behind a slow one or a busy scheduler): the leader steps down
		// with a third of its term to spare, before it can lapse while
		// another process takes over (a stalled database must not let two
		// processes lead, or run one singleton service, at once).
		began := time.Now()
		deadline := began.Add(e.cfg.TTL / 3)
		if spare := termBegan.Add(2 * e.cfg.TTL / 3); leading && spare.Before(deadline) {
			deadline = spare
		}
		callCtx, cancel := context.WithDeadline(ctx, deadline)
		elected, err := e.cfg.Store.LeaderAttemptElect(callCtx, &store.LeaderElectParams{
			Name: e.cfg.Name, LeaderID: e.cfg.LeaderID, TTL: e.cfg.TTL, Now: e.cfg.Now(),
		})
		cancel()
		if err == nil && elected {
			termBegan = began
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.cfg.Logger.Warn("kiln: leader election failed", "name", e.cfg.Name, "err", err)
			// Without a renewal the term may lapse: stop leading to be safe.
			elected = false
		}
		switch {
		case elected && !leading:
			e.cfg.Logger.Info("kiln: elected leader", "name", e.cfg.Name, "id", e.cfg.LeaderID)
			var leadCtx context.Context
			leadCtx, leadCancel = context.WithCancel(ctx)
			leading = true
			e.cfg.OnElected(leadCtx)
		case !elected && leading:
			e.cfg.Logger.Info("kiln: no longer leader", "name", e.cfg.Name, "id", e.cfg.LeaderID)
			depose()
		}
	})
}
