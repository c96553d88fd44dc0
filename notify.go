package kiln

import (
	"context"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/internal/notifier"
)

// startNotifier makes the store's notifications reach this process: a job inserted by any process wakes the
// queue's fetcher at once, and a cancel requested from any process cancels
// the job's context at once if it runs here. It returns once notifications
// are received (or the first attempt to receive them failed, which it
// logs; it then tries again in the background), and returns nil when the
// store sends none (its NotificationsAvailable reports false: SQLite, or
// PostgreSQL behind a pooler in transaction mode) or the client runs no
// queues. Polling (every
// FetchPollInterval and CancelPollInterval) goes on either way and covers
// lost notifications. Stop the result, nil included, with its Stop method.
func (c *Client) startNotifier(ctx context.Context) *notifier.Notifier {
	if len(c.cfg.Queues) == 0 { // no queues: no jobs to wake or cancel here
		return nil
	}
	if !c.cfg.Store.NotificationsAvailable() {
		return nil // SQLite, or behind a pooler in transaction mode: polling alone
	}
	n := notifier.New(notifier.Config{
		Store:   c.cfg.Store,
		Logger:  c.cfg.Logger,
		Wake:    func(queue string) { c.wake(queue) },
		WakeAll: c.wakeAll,
		Cancel:  func(id int64) { c.cancelLocal(id, jobexec.ErrCancelRequested) },
		// Start's bound on each store call (service.CallTimeout).
		StartWait: c.startTimeout(),
	})
	n.Start(ctx)
	return n
}

// wakeAll makes every fetcher of this process look for jobs at once.
func (c *Client) wakeAll() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, p := range c.producers {
		p.Wake()
	}
}
