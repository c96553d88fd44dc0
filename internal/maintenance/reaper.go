package maintenance

import (
	"context"

	"github.com/kilnjobs/kiln/store"
)

// reaper deletes the registry rows of servers not refreshed for longer than
// ServerTTL: processes that died without deregistering (Hangfire's
// ServerWatchdog). Their running jobs come back through the rescuer once
// their leases expire.
func (s *Services) reaper() Task {
	return Task{Name: "reaper", Interval: s.cfg.ServerTTL / 4, Run: func(ctx context.Context) (int, error) {
		ids, err := s.cfg.Store.ServerDeleteStale(ctx, &store.ServerDeleteStaleParams{Before: s.cfg.Now().Add(-s.cfg.ServerTTL), TTL: s.cfg.ServerTTL})
		if err != nil {
			return 0, err
		}
		if len(ids) > 0 {
			s.cfg.Logger.Warn("kiln: removed servers that stopped refreshing their registry row", "servers", ids,
				"ttl", s.cfg.ServerTTL)
		}
		return len(ids), nil
	}}
}
