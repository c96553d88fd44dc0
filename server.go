package kiln

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/kilnjobs/kiln/internal/registry"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// ServerRow is one Kiln process in the server registry, re-exported from
// kilntype.
type ServerRow = kilntype.ServerRow

// ServerQueue is one queue of a ServerRow (ServerRow.Queues): its name,
// worker count and busy workers at the process's last refresh;
// re-exported from kilntype.
type ServerQueue = kilntype.ServerQueue

// ServerList returns the Kiln processes (started clients) registered in the
// store, ordered by ID: their host, PID, queues with worker counts and busy
// workers, kinds, the limits their workers declare (KindLimits), start
// time and last refresh (UTC). A started client
// refreshes its row every ServerRefreshInterval and removes it when it
// stops; the maintenance leader removes the rows of processes silent for
// ServerTTL, so a row whose RefreshedAt is older than a few intervals
// belongs to a process that is probably gone.
func (c *Client) ServerList(ctx context.Context) ([]*ServerRow, error) {
	rows, err := c.cfg.Store.ServerList(ctx)
	if err != nil {
		return nil, fmt.Errorf("kiln: list servers: %w", err)
	}
	return rows, nil
}

// warnHeldMigrations logs at WARN, once, each contract migration of this
// build that the store lacks (Store.MigrationsHeld): held back by the
// registered processes of older versions it names (server ID, host, pid,
// their last migration, when they last refreshed their row), behind an
// earlier one, or waiting for the next `kiln migrate`. Start calls it once
// the schema check passed: a store opened with Migrate: true holds them
// without a word. A failure to list them is logged too; Start goes on.
func (c *Client) warnHeldMigrations(ctx context.Context) {
	var held []store.HeldMigration
	err := c.startCall(ctx, func(ctx context.Context) (err error) {
		held, err = c.cfg.Store.MigrationsHeld(ctx)
		return err
	})
	if err != nil {
		c.cfg.Logger.Warn("kiln: cannot list the contract migrations held back", "err", err)
		return
	}
	for _, h := range held {
		c.cfg.Logger.Warn("kiln: contract migration not applied: this version runs without it; "+
			"run `kiln migrate` once the processes holding it have stopped",
			"migration", h.Name, "contract", h.Contract, "held_by", h.Older, "behind", h.Behind, "detail", h.String())
	}
}

// newRegistry returns the registry keeper of a client being started.
func (c *Client) newRegistry(producers []string) *registry.Registry {
	host, _ := os.Hostname()
	started := c.now()
	slices.Sort(producers)
	kinds := c.cfg.Workers.Kinds() // sorted
	limits := c.cfg.Workers.declaredLimits()
	return registry.New(registry.Config{
		Store: c.cfg.Store, Now: c.now, Interval: c.cfg.ServerRefreshInterval, Logger: c.cfg.Logger,
		Timeout: c.storeCallTimeout,
		Row: func() *ServerRow {
			busy := map[string]int{}
			for _, p := range c.producerList() {
				busy[p.Queue()] = len(p.Running())
			}
			queues := make([]ServerQueue, 0, len(producers))
			for _, name := range producers {
				queues = append(queues, ServerQueue{
					Name: name, MaxWorkers: c.cfg.Queues[name].MaxWorkers, Busy: busy[name],
				})
			}
			return &ServerRow{
				ID: c.cfg.ID, Host: host, PID: os.Getpid(), Queues: queues,
				Kinds: kinds, Limits: limits, StartedAt: started,
			}
		},
	})
}
