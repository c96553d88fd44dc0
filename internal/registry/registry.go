// Package registry keeps this process's row in the store's server registry
// (store.ServerStore): it registers the process when the client starts,
// before the client checks the schema (Register), refreshes the row
// (RefreshedAt, busy workers) every interval, and deregisters it when the
// client stops. Rows of processes that die are
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

// Config configures a Registry. Every field is required unless marked
// optional.
type Config struct {
	Store store.ServerStore
	// Row returns the process's current row; the Registry sets its
	// RefreshedAt before writing it.
	Row      func() *kilntype.ServerRow
	Now      func() time.Time
	Interval time.Duration // how often the row is refreshed
	Logger   *slog.Logger
	// Timeout bounds each write of the row (Register's and each
	// refresh's); 0 means service.CallTimeout. Optional.
	Timeout time.Duration
}

// Registry keeps one process's row. Create it with New.
type Registry struct {
	cfg    Config
	runner service.Runner
	id     string // the ID of the last row written successfully; deleted by Stop
}

// New returns a Registry; Start runs it.
func New(cfg Config) *Registry { return &Registry{cfg: cfg} }

// Register writes the row once, under ctx and at most Config.Timeout, and
// returns the store's error, or, when the store did not answer within the
// timeout (and ctx is not done), a *service.TimeoutError naming it: a
// store that accepts the call and never answers (a PostgreSQL server that
// no longer replies, a SQLite file whose writer lock another process
// holds) cannot hang the client's Start.
//
// A client registers before it checks the schema and before its
// producers claim: the gate of contract migrations
// (store/internal/migrate), which reads the registry, then either sees
// the process and holds back a migration that its build still needs, or
// applied it before the row was written, and the schema check that
// follows refuses the schema (docs/upgrading.md, "Contract migrations").
// A process that cannot register must not claim: the client's Start
// fails with Register's error.
func (r *Registry) Register(ctx context.Context) error {
	return service.BoundedCall(ctx, r.timeout(), r.write)
}

// timeout returns Config.Timeout, or service.CallTimeout when it is 0.
func (r *Registry) timeout() time.Duration {
	if r.cfg.Timeout > 0 {
		return r.cfg.Timeout
	}
	return service.CallTimeout
}

// Start refreshes the row every Interval, until Stop. A failed refresh is
// logged and tried again at the next tick: the process runs on, and its
// row, if not refreshed for ServerTTL, is removed by the maintenance
// leader until a refresh writes it again.
func (r *Registry) Start(ctx context.Context) {
	r.runner.Start(ctx, func(ctx context.Context) {
		for service.Sleep(ctx, r.cfg.Interval) {
			service.Bounded(ctx, r.timeout(), func(ctx context.Context) {
				if err := r.write(ctx); err != nil && !service.Stopping(ctx) {
					r.cfg.Logger.Warn("kiln: cannot refresh this server's registry row", "err", err)
				}
			})
		}
	})
}

// Stop stops the refreshes and deletes the row, if a write of it
// succeeded, waiting at most 5 s for the store. Stopping without a Start,
// or twice, is harmless.
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

// write writes the row with a fresh RefreshedAt; once a write succeeded,
// Stop deletes the row.
func (r *Registry) write(ctx context.Context) error {
	row := r.cfg.Row()
	row.RefreshedAt = r.cfg.Now()
	if err := r.cfg.Store.ServerUpsert(ctx, &store.ServerUpsertParams{Row: row}); err != nil {
		return err
	}
	r.id = row.ID // read by Stop, after the refreshes stopped
	return nil
}
