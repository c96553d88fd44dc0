// Package release releases the continuations of jobs that this process
// has just finished, at once, rather than at the leader resolver's next
// pass (every ScheduleInterval): the waiting occurrence of a recurring
// entry starts as soon as the run before it ends. The resolver stays the
// fallback for every job this misses (a process that died, a failed call).
package release

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Config configures a Releaser. Every field but OnReleased is required.
type Config struct {
	Store  store.DependencyStore
	Now    func() time.Time
	Logger *slog.Logger
	// OnReleased (optional) is called with the jobs each call released.
	OnReleased func(rows []*kilntype.JobRow)
}

// Releaser releases the pending children of the jobs given to Add. Create
// it with New; its methods are safe for concurrent use, and on a nil
// Releaser they do nothing.
type Releaser struct {
	cfg    Config
	wake   chan struct{}
	runner service.Runner

	mu      sync.Mutex // guards parents
	parents []int64
}

// maxParents bounds the parents waiting for the loop; past it Add drops
// IDs, whose children the resolver releases.
const maxParents = 10_000

// batch is how many jobs one call releases at most; a full call is
// followed by another at once.
const batch = 1000

// New returns a Releaser; Start runs it.
func New(cfg Config) *Releaser {
	return &Releaser{cfg: cfg, wake: make(chan struct{}, 1)}
}

// Start starts the loop.
func (r *Releaser) Start(ctx context.Context) {
	if r != nil {
		r.runner.Start(ctx, r.run)
	}
}

// Stop stops the loop and waits for it. Parents added and not yet looked
// at are left to the resolver.
func (r *Releaser) Stop() {
	if r != nil {
		r.runner.Stop()
	}
}

// Add asks for the pending children of job id, which has just ended, to be
// released. It does not block.
func (r *Releaser) Add(id int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if len(r.parents) < maxParents {
		r.parents = append(r.parents, id)
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Releaser) run(ctx context.Context) {
	const idle = time.Hour // nothing to do until Add wakes the loop
	service.Poll(ctx, r.wake, idle,
		func(ctx context.Context) (time.Duration, error) {
			r.mu.Lock()
			parents := r.parents
			r.parents = nil
			r.mu.Unlock()
			if len(parents) == 0 {
				return idle, nil
			}
			for {
				rows, err := r.cfg.Store.JobResolvePending(ctx, &store.JobResolvePendingParams{
					Now: r.cfg.Now(), Max: batch, Parents: parents,
				})
				if err != nil {
					r.mu.Lock()
					if len(r.parents)+len(parents) <= maxParents {
						r.parents = append(r.parents, parents...) // for the retry
					}
					r.mu.Unlock()
					return 0, err
				}
				if len(rows) > 0 && r.cfg.OnReleased != nil {
					r.cfg.OnReleased(rows)
				}
				if len(rows) < batch {
					return idle, nil // an Add meanwhile left a wake
				}
			}
		},
		func(err error, failures int, wait time.Duration) {
			r.cfg.Logger.Warn("kiln: releasing continuations of finished jobs failed; retrying (the leader's resolver releases them too)",
				"try", failures, "retry_in", wait, "err", err)
		})
}
