// Package completer writes the outcomes of job attempts to the store in
// batches: a burst of finished jobs becomes one transaction, a lone one is
// written at once, and up to Writers batches are written at once (River's
// completer likewise keeps several batches in flight). A write that fails is
// retried with backoff, so an outcome is never dropped while the process
// lives; if the process dies first, the job's lease expires and the rescuer
// runs it again (at-least-once).
package completer

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// MaxBatch is the most outcomes written in one transaction.
const MaxBatch = 500

// Writers is how many batches a Completer writes at once, each in a
// transaction of its own: while one commits, the outcomes that arrived
// meanwhile can go out in another rather than wait for its round trips and
// its disk flush. A batch goes to a second writer only once it holds
// ParallelBatch outcomes (see gatherer.ready).
const Writers = 2

// ParallelBatch is the fewest outcomes a batch holds before it is written
// beside a write under way; a batch goes out at any size when no write is
// under way. Every transaction has a fixed cost (its statement, its commit):
// measured on PostgreSQL (docs/benchmarks.md), a second writer that took
// whatever had arrived wrote many small batches and gained nothing, while
// one that waited for 50 outcomes raised burn-down throughput by a fifth
// for less CPU per job; on SQLite, whose writes queue on one connection,
// it changed nothing measurable.
const ParallelBatch = MaxBatch / 10

// On a store whose SingleWriter reports true (SQLite) a Completer has one writer, and a batch
// goes to it once it holds SingleWriterBatch outcomes or SingleWriterLinger
// after the writer became free with outcomes waiting, whichever comes first:
// a lone outcome waits up to SingleWriterLinger. Writing whatever had
// arrived made batches of about 25 outcomes in a burn-down, each a commit;
// these make them about 130, and burn-down ran 1.05–1.43 times as fast in
// paired runs (docs/benchmarks.md).
const (
	SingleWriterBatch  = 200
	SingleWriterLinger = 2 * time.Millisecond
)

// Item is one outcome to write: a job's row and the params of its finish
// (Outcome, asked as often as the completer needs them, which must not
// change while the Item is queued), and what is told once the write is
// over (Finished, from the goroutine of the writer that wrote it: applied
// reports whether the job moved to its new state, false when its lease was
// lost to a rescue, or when the write was given up at shutdown). It is an
// interface, not a struct of the three, so that the record of a running
// job can be its own Item: the struct's 32 bytes in the record took it
// from 384 bytes, an allocation size of Go's, to 416.
type Item interface {
	Outcome() (*kilntype.JobRow, *store.JobFinishParams)
	Finished(applied bool)
}

// jobID returns the ID of its job.
func jobID(it Item) int64 {
	_, p := it.Outcome()
	return p.ID
}

// Completer batches finish writes. Create it with New; Finish may be called
// from many goroutines between Start and Stop.
type Completer struct {
	store  store.Store
	logger *slog.Logger
	in     chan Item
	runner service.Runner

	// The collecting goroutine does not receive each outcome as it is
	// queued while the batch it gathers cannot go out yet: it sets need
	// to how many queued outcomes would make it ready, and Finish wakes
	// it through kick (a buffer of 1) once queued, the outcomes sent on in
	// and not yet received, reaches need. need is 0 while it does not
	// wait for outcomes. Both counts are atomics, so that a wake is never
	// lost: the collector stores need before it reads queued, Finish adds
	// to queued before it reads need.
	kick   chan struct{}
	queued atomic.Int64
	need   atomic.Int64

	writers  int           // batches written at once
	minBatch int           // outcomes that go to an idle writer without waiting
	linger   time.Duration // the longest a smaller batch waits for an idle writer

	// Observe (optional, set before Start) is called around each write
	// (op "finish").
	Observe service.StoreObserver
}

// New returns a Completer writing to s. queueSize bounds the outcomes
// waiting to be written beyond the batch being gathered (MaxBatch); Finish
// blocks when it is full (backpressure). Outcomes wait in the queue, not
// in the batch, while every writer is busy and while the batch cannot go
// out yet (beside a write under way until ParallelBatch are queued; for a
// single writer until SingleWriterBatch are, or its linger ends): a
// queueSize below those makes Finish block until a writer returns. On a
// store whose SingleWriter reports true it writes with one writer, in
// batches of up to SingleWriterBatch outcomes gathered for up to
// SingleWriterLinger.
func New(s store.Store, logger *slog.Logger, queueSize int) *Completer {
	c := &Completer{store: s, logger: logger, in: make(chan Item, queueSize), kick: make(chan struct{}, 1),
		writers: Writers, minBatch: 1}
	if s.SingleWriter() {
		c.writers, c.minBatch, c.linger = 1, SingleWriterBatch, SingleWriterLinger
	}
	return c
}

// Start starts the collecting goroutine, which owns the writers'.
func (c *Completer) Start(ctx context.Context) { c.runner.Start(ctx, c.run) }

// Stop writes what is queued and stops. Call it only after every producer
// has stopped calling Finish.
func (c *Completer) Stop() { c.runner.Stop() }

// Finish queues an outcome for writing.
func (c *Completer) Finish(it Item) {
	c.in <- it
	n := c.queued.Add(1)
	if need := c.need.Load(); need > 0 && n >= need {
		select {
		case c.kick <- struct{}{}:
		default: // a wake is pending already
		}
	}
}

// stopWaiting ends the collecting goroutine's wait for need outcomes, and
// takes back a kick that Finish may have sent meanwhile, which would wake it
// for nothing at its next wait.
func (c *Completer) stopWaiting() {
	if c.need.Load() == 0 {
		return
	}
	c.need.Store(0)
	select {
	case <-c.kick:
	default:
	}
}

// receive takes it off in: the collecting goroutine's count of queued
// outcomes follows.
func (c *Completer) receive(it Item, g *gatherer) {
	c.queued.Add(-1)
	g.add(it)
}

// run gathers the queued outcomes into a batch and hands it to a free writer
// when it is ready, so a batch holds every outcome that arrived while the
// writers were busy (up to MaxBatch), and a lone outcome goes out at once
// when no write is under way. At shutdown it waits for the writers, then
// writes what is left.
func (c *Completer) run(ctx context.Context) {
	work := make(chan []Item)
	written := make(chan []Item, c.writers) // never blocks a writer: at most c.writers batches in flight
	var writers sync.WaitGroup
	for range c.writers {
		writers.Go(func() {
			applied := map[int64]bool{} // each batch's, cleared and used again by the next
			for batch := range work {
				c.write(ctx, batch, applied)
				clear(applied)
				written <- batch
			}
		})
	}
	g := newGatherer(c.writers, c.minBatch)
	var linger *time.Timer // runs while g.lingering
	stopLinger := func() {
		if linger != nil {
			linger.Stop()
			linger = nil
		}
	}
	defer stopLinger()
	for ctx.Err() == nil {
		// The fill takes what is queued only while a writer is free: with
		// every writer busy, no batch can go out, and outcomes wait in in's
		// buffer (see the select below).
	fill:
		for g.room() && (g.free > 0 || cap(c.in) == 0) {
			select {
			case it := <-c.in:
				c.receive(it, g)
			default:
				break fill
			}
		}
		if g.ready() {
			stopLinger()
			work <- g.take()
			continue
		}
		// Outcomes wait in in's buffer while the batch cannot go out
		// yet, and the fill above takes them together: receiving each
		// as it came would wake this goroutine once per outcome for
		// nothing. While every writer is busy (or the batch is full) no
		// outcome makes it ready: need is 0 and a writer's return wakes
		// it. Otherwise Finish kicks it once need outcomes are queued.
		// (An unbuffered in has no room to wait in: each outcome is
		// received as it comes, while the batch has room.)
		var in chan Item
		var kick chan struct{}
		if cap(c.in) == 0 {
			if g.room() {
				in = c.in
			}
		} else if need := g.need(); need > 0 {
			kick = c.kick
			c.need.Store(int64(need))
			if c.queued.Load() >= int64(need) && len(c.in) > 0 {
				c.stopWaiting()
				continue // they came meanwhile
			}
		}
		var lingerOver <-chan time.Time // nil unless g.lingering
		if g.lingering() {
			if linger == nil {
				linger = time.NewTimer(c.linger)
			}
			lingerOver = linger.C
		}
		select {
		case it := <-in:
			c.receive(it, g)
		case <-kick:
		case batch := <-written:
			g.written(batch)
		case <-lingerOver:
			linger = nil
			g.lingered = true
		case <-ctx.Done():
		}
		c.stopWaiting()
	}
	close(work)
	writers.Wait()
	c.drain(append(g.next, g.held...))
}

// gatherer is run's state: the batch being gathered, and the outcomes held
// back because their job has another outcome in flight or in that batch,
// so that the outcomes of one job are written one after the other, in the
// order they were queued (a stale copy's outcome, then a newer claim's).
type gatherer struct {
	next    []Item
	spare   [][]Item      // batches written, emptied, for take to use again
	held    []Item        // in the order queued
	pending map[int64]int // per job, its outcomes in next or in flight
	free    int           // writers without a batch
	writers int           // writers in all
	// minBatch is the fewest outcomes next holds to go to an idle writer
	// before its linger is over (lingered).
	minBatch int
	lingered bool
}

func newGatherer(writers, minBatch int) *gatherer {
	return &gatherer{next: make([]Item, 0, MaxBatch), pending: map[int64]int{}, free: writers, writers: writers, minBatch: minBatch}
}

// ready reports whether next should go to a writer now: when no write is
// under way, once it holds minBatch outcomes or its linger is over (with a
// minBatch of 1, a lone outcome is written at once), and beside a write
// under way only once it holds ParallelBatch outcomes.
func (g *gatherer) ready() bool {
	switch {
	case len(g.next) == 0 || g.free == 0:
		return false
	case g.free == g.writers:
		return len(g.next) >= g.minBatch || g.lingered || !g.room()
	}
	return len(g.next) >= ParallelBatch
}

// lingering reports whether next waits for more outcomes before it goes to
// an idle writer.
func (g *gatherer) lingering() bool {
	return len(g.next) > 0 && g.free == g.writers && !g.ready()
}

// need returns how many more outcomes make next ready (or, while it is
// empty and every writer is free, start its linger): 0 when none would,
// because next is full or every writer is busy.
func (g *gatherer) need() int {
	switch {
	case !g.room() || g.free == 0:
		return 0
	case g.free < g.writers:
		return max(ParallelBatch-len(g.next), 1)
	case len(g.next) == 0:
		return 1
	}
	return max(g.minBatch-len(g.next), 1)
}

// room reports whether next can take another outcome.
func (g *gatherer) room() bool { return len(g.next) < MaxBatch }

// add puts it in next, or holds it back behind its job's other outcome.
func (g *gatherer) add(it Item) {
	id := jobID(it)
	if g.pending[id] > 0 || g.isHeld(id) {
		g.held = append(g.held, it)
		return
	}
	g.pending[id]++
	g.next = append(g.next, it)
}

func (g *gatherer) isHeld(id int64) bool {
	for _, it := range g.held {
		if jobID(it) == id {
			return true
		}
	}
	return false
}

// take hands next to a writer.
func (g *gatherer) take() []Item {
	batch := g.next
	if n := len(g.spare); n > 0 {
		g.next, g.spare = g.spare[n-1], g.spare[:n-1]
	} else {
		g.next = make([]Item, 0, MaxBatch)
	}
	g.free--
	g.lingered = false
	return batch
}

// written frees the writer of batch and releases the held outcomes whose
// job has nothing in flight any more, first queued first.
func (g *gatherer) written(batch []Item) {
	g.free++
	for _, it := range batch {
		id := jobID(it)
		if n := g.pending[id]; n > 1 {
			g.pending[id] = n - 1
		} else {
			delete(g.pending, id)
		}
	}
	clear(batch) // its items are their producers' again
	g.spare = append(g.spare, batch[:0])
	held := g.held
	g.held = nil
	for _, it := range held {
		if g.room() {
			g.add(it) // held again if an earlier outcome of its job was just released
		} else {
			g.held = append(g.held, it)
		}
	}
}

// drain writes the outcomes of batch, then those still queued, at shutdown,
// a batch at a time and each for a bounded time.
func (c *Completer) drain(batch []Item) {
	for {
		select {
		case it := <-c.in:
			c.queued.Add(-1)
			batch = append(batch, it)
			if len(batch) < MaxBatch {
				continue
			}
		default:
		}
		if len(batch) == 0 {
			return
		}
		n := min(len(batch), MaxBatch)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c.write(ctx, batch[:n], map[int64]bool{})
		cancel()
		batch = batch[n:]
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

// write writes the outcomes of batch and tells each its Done; applied, empty,
// is where it records the jobs that moved.
func (c *Completer) write(ctx context.Context, batch []Item, applied map[int64]bool) {
	if len(batch) == 0 {
		return
	}
	// The common write moves every job of the batch: the store returns as
	// many IDs as it was given outcomes (each job moves once, and a batch
	// holds one outcome per job: see gatherer), so no job needs looking up.
	ids, ok := c.writeItems(ctx, batch, splitBatchAfter)
	if ok && len(ids) == len(batch) {
		for _, it := range batch {
			it.Finished(true)
		}
		return
	}
	if ok {
		for _, id := range ids {
			applied[id] = true
		}
	}
	for !ok && ctx.Err() == nil {
		var failed []Item
		succeeded := 0
		for _, it := range batch {
			if c.writeApplied(ctx, []Item{it}, 1, applied) {
				succeeded++
				continue
			}
			if failed = append(failed, it); succeeded == 0 && len(failed) == outageAfter {
				break // the first items all failed too: the store is down
			}
		}
		if succeeded == 0 {
			ok = c.writeApplied(ctx, batch, splitBatchAfter, applied) // keep trying the whole batch
			continue
		}
		for _, it := range failed {
			if !c.writeApplied(ctx, []Item{it}, dropItemAfter, applied) {
				row, p := it.Outcome()
				c.logger.Error("kiln: gave up recording a job outcome the store keeps rejecting; its lease will expire and it will run again",
					"job_id", p.ID, "kind", row.Kind)
			}
		}
		break
	}
	for _, it := range batch {
		it.Finished(applied[jobID(it)])
	}
}

// writeApplied is writeItems recording the jobs that moved in applied.
func (c *Completer) writeApplied(ctx context.Context, items []Item, tries int, applied map[int64]bool) bool {
	ids, ok := c.writeItems(ctx, items, tries)
	for _, id := range ids {
		applied[id] = true
	}
	return ok
}

// writeItems writes items in one transaction, trying up to tries times (or
// until ctx ends: stopping, or the shutdown deadline passed), and returns
// the IDs of the jobs that moved and whether the write succeeded.
func (c *Completer) writeItems(ctx context.Context, items []Item, tries int) ([]int64, bool) {
	params := make([]*store.JobFinishParams, len(items))
	for i, it := range items {
		_, params[i] = it.Outcome()
	}
	for n := 1; n <= tries; n++ {
		ids, err := c.call(ctx, params)
		if err == nil {
			return ids, true
		}
		c.logger.Error("kiln: cannot record job outcomes", "jobs", len(items), "try", n, "err", err)
		if n == tries {
			break
		}
		if !service.Sleep(ctx, service.Backoff(n, 5*time.Second)) {
			c.logger.Error("kiln: gave up recording job outcomes at shutdown; their leases will expire and they will run again", "jobs", len(items))
			return nil, false
		}
	}
	return nil, false
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
	if c.Observe == nil {
		return c.store.JobFinishMany(callCtx, params)
	}
	callCtx, observed := c.Observe(callCtx, "finish", "")
	ids, err := c.store.JobFinishMany(callCtx, params)
	if observed != nil {
		observed(len(ids), err)
	}
	return ids, err
}
