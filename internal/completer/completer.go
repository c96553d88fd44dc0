// Package completer writes the outcomes of job attempts to the store in
// batches: a burst of finished jobs becomes one transaction, a lone one is
// written at once. A write that fails is retried with backoff, so an outcome
// is never dropped while the process lives; if the process dies first, the
// job's lease expires and the rescuer runs it again (at-least-once).
package completer

import (
	"context"
	"log/slog"
	"time"

	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// MaxBatch is the most outcomes written in one transaction.
const MaxBatch = 500

// Item is one outcome to write. Done, if set, is called once the write is
// over, from the completer's goroutine: applied reports whether the job
// moved to its new state (false when its lease was lost to a rescue, or when
// the write was given up at shutdown).
type Item struct {
	Row    *kilntype.JobRow
	Params *store.JobFinishParams
	Done   func(applied bool)
}

// Completer batches finish writes. Create it with New; Finish may be called
// from many goroutines between Start and Stop.
type Completer struct {
	store  store.Store
	logger *slog.Logger
	in     chan *Item
	runner service.Runner
}

// New returns a Completer writing to s. queueSize bounds the outcomes
// waiting to be written; Finish blocks when it is full (backpressure).
func New(s store.Store, logger *slog.Logger, queueSize int) *Completer {
	return &Completer{store: s, logger: logger, in: make(chan *Item, queueSize)}
}

// Start starts the writing goroutine.
func (c *Completer) Start(ctx context.Context) { c.runner.Start(ctx, c.run) }

// Stop writes what is queued and stops. Call it only after every producer
// has stopped calling Finish.
func (c *Completer) Stop() { c.runner.Stop() }

// Finish queues an outcome for writing.
func (c *Completer) Finish(it *Item) { c.in <- it }

func (c *Completer) run(ctx context.Context) {
	batch := make([]*Item, 0, MaxBatch)
	for {
		select {
		case it := <-c.in:
			batch = append(batch[:0], it)
		case <-ctx.Done():
			c.drain(batch[:0])
			return
		}
	fill:
		for len(batch) < MaxBatch {
			select {
			case it := <-c.in:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		c.write(ctx, batch)
	}
}

// drain writes what is left at shutdown, trying for a bounded time.
func (c *Completer) drain(batch []*Item) {
	for {
		select {
		case it := <-c.in:
			batch = append(batch, it)
			if len(batch) < MaxBatch {
				continue
			}
		default:
		}
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c.write(ctx, batch)
		cancel()
		batch = batch[:0]
	}
}

func (c *Completer) write(ctx context.Context, batch []*Item) {
	params := make([]*store.JobFinishParams, len(batch))
	for i, it := range batch {
		params[i] = it.Params
	}
	var applied map[int64]bool
	for n := 1; ; n++ {
		ids, err := c.call(ctx, params)
		if err == nil {
			applied = make(map[int64]bool, len(ids))
			for _, id := range ids {
				applied[id] = true
			}
			break
		}
		c.logger.Error("kiln: cannot record job outcomes; retrying", "jobs", len(batch), "try", n, "err", err)
		if !service.Sleep(ctx, service.Backoff(n, 5*time.Second)) {
			// Stopping (or the shutdown deadline passed): leave the jobs to
			// lease expiry and the rescuer rather than block forever.
			c.logger.Error("kiln: gave up recording job outcomes at shutdown; their leases will expire and they will run again", "jobs", len(batch))
			break
		}
	}
	for _, it := range batch {
		if it.Done != nil {
			it.Done(applied[it.Params.ID])
		}
	}
}

// call runs one write. A Stop does not abort a write under way; the write
// has its own bound (ctx's deadline, or 30 s) so a hung store cannot hang it.
func (c *Completer) call(ctx context.Context, params []*store.JobFinishParams) ([]int64, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	callCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	return c.store.JobFinishMany(callCtx, params)
}
