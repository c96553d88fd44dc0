// Package registry keeps this process's row in the store's server registry
// (store.ServerStore): it registers the process when the client starts,
// refreshes the row (RefreshedAt, busy workers) every interval, and
// deregisters it when the client stops. Rows of processes that die are
// deleted by the maintenance leader's reaper.
package registry

import (
	"context"
	"log/slog"
	"time"

	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Config configures a Registry. Every field is required.
type Config struct {
	Store store.ServerStore
	// Row returns the process's current row; the Registry sets its
	// RefreshedAt before writing it.
	Row      func() *kilntype.ServerRow
	Now      func() time.Time
	Interval time.Duration // how often the row is refreshed
	Logger   *slog.Logger
}

// Registry keeps one process's row. Create it with New.
type Registry struct {
	cfg    Config
	runner service.Runner
	id     string // the ID of the last row written; deleted by Stop
}

// New returns a Registry; Start runs it.
func New(cfg Config) *Registry { return &Registry{cfg: cfg} }

// Start writes the row, waiting for the write (at most
// service.CallTimeout), and then again every Interval, until Stop. The
// first write is made before Start returns, so that a client that starts
// its registry before its producers is registered before it claims a job:
// the gate of contract migrations (store/internal/migrate), which reads
// the registry, then sees it. A failed write is logged and tried again at
// the next tick: the process runs on without its row.
func (r *Registry) Start(ctx context.Context) {
	service.Bounded(context.WithoutCancel(ctx), service.CallTimeout, r.write)
	r.runner.Start(ctx, func(ctx context.Context) {
		for service.Sleep(ctx, r.cfg.Interval) {
			service.Bounded(ctx, service.CallTimeout, r.write)
		}
	})
}

// Stop stops the refreshes and deletes the row, waiting at most 5 s for
// the store.
func (r *Registry) Stop() {
	r.runner.Stop()
	if r.id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.cfg.Store.ServerDelete(ctx, &store.ServerDeleteParams{ID: r.id}); err != nil {
		r.cfg.Logger.Warn("kiln: cannot deregister this server; the leader will remove it", "err", err)
	}
}

func (r *Registry) write(ctx context.Context) {
	row := r.cfg.Row()
	row.RefreshedAt = r.cfg.Now()
	r.id = row.ID
	if err := r.cfg.Store.ServerUpsert(ctx, &store.ServerUpsertParams{Row: row}); err != nil && !service.Stopping(ctx) {
		r.cfg.Logger.Warn("kiln: cannot refresh this server's registry row", "err", err)
	}
}
