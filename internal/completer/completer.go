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

// Retry bounds. A batch that fails splitBatchAfter times is tried item by
// item: when some items go through and others do not, the others are
// suspects (an outcome the store rejects, which must not hold back the
// rest) and each is given up after dropItemAfter more tries (its lease then
// expires and the job runs again: at least once still holds). When no item
// goes through, the store is down: the batch is retried until it is back.
const (
	splitBatchAfter = 3
	dropItemAfter   = 5
	outageAfter     = 3 // single items failing before any succeeds
)

func (c *Completer) write(ctx context.Context, batch []*Item) {
	applied := map[int64]bool{}
	pending := batch
	for len(pending) > 0 && !c.writeItems(ctx, pending, splitBatchAfter, applied) && ctx.Err() == nil {
		var failed []*Item
		succeeded := 0
		for _, it := range pending {
			if c.writeItems(ctx, []*Item{it}, 1, applied) {
				succeeded++
				continue
			}
			if failed = append(failed, it); succeeded == 0 && len(failed) == outageAfter {
				break // the first items all failed too: the store is down
			}
		}
		if succeeded == 0 {
			continue // keep trying the whole batch
		}
		for _, it := range failed {
			if !c.writeItems(ctx, []*Item{it}, dropItemAfter, applied) {
				c.logger.Error("kiln: gave up recording a job outcome the store keeps rejecting; its lease will expire and it will run again",
					"job_id", it.Params.ID, "kind", it.Row.Kind)
			}
		}
		break
	}
	for _, it := range batch {
		if it.Done != nil {
			it.Done(applied[it.Params.ID])
		}
	}
}

// writeItems writes items in one transaction, trying up to tries times (or
// until ctx ends: stopping, or the shutdown deadline passed), records the
// jobs that moved in applied, and reports whether the write succeeded.
func (c *Completer) writeItems(ctx context.Context, items []*Item, tries int, applied map[int64]bool) bool {
	params := make([]*store.JobFinishParams, len(items))
	for i, it := range items {
		params[i] = it.Params
	}
	for n := 1; n <= tries; n++ {
		ids, err := c.call(ctx, params)
		if err == nil {
			for _, id := range ids {
				applied[id] = true
			}
			return true
		}
		c.logger.Error("kiln: cannot record job outcomes", "jobs", len(items), "try", n, "err", err)
		if n == tries {
			break
		}
		if !service.Sleep(ctx, service.Backoff(n, 5*time.Second)) {
			c.logger.Error("kiln: gave up recording job outcomes at shutdown; their leases will expire and they will run again", "jobs", len(items))
			return false
		}
	}
	return false
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
