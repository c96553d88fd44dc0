// Package bulk runs the batches of bulk operations (store.BulkStore) in
// the process that accepted them: one goroutine per operation, owned by a
// Runner that the client stops with itself. The operation's state lives in
// the store; the goroutine only moves it forward, batch by batch, and an
// operation it leaves unfinished (the process stops) stays interrupted,
// for any process to resume.
package bulk

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Defaults of Settings.
const (
	// DefaultBatchSize is the most jobs one batch changes: one transaction
	// of about ten milliseconds on either store.
	DefaultBatchSize = 1000
	// DefaultWindow is the most consecutive job IDs one batch examines, so
	// that a filter matching few jobs among many still commits (and shows
	// progress, and sees a cancel) every few milliseconds.
	DefaultWindow = 20_000
	// DefaultStaleAfter is how long a running operation may go without a
	// batch before other processes take it for abandoned: far longer than
	// a batch and the backoff of its retries.
	DefaultStaleAfter = time.Minute
)

// retryDelays are the waits before each new try of a failing batch; once
// they are used up, the operation fails.
var retryDelays = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}

// Settings configure a Runner.
type Settings struct {
	Store store.BulkStore
	Owner string           // this process's ID
	Now   func() time.Time // the client's clock
	// BatchSize and Window bound each batch (0: DefaultBatchSize,
	// DefaultWindow).
	BatchSize int
	Window    int64
	// Pause is the share of a batch's duration waited after it before
	// the next one (0: 1, as long as the batch took), so that the
	// operation takes at most about half of a single writer's time
	// (SQLite) and other writers are not starved. A negative value
	// waits nothing.
	Pause float64
	// OnBatch, if set, is called after each batch with its result (to
	// wake queues, cancel local jobs), from the operation's goroutine.
	OnBatch func(*store.BulkBatchResult)
	Logger  *slog.Logger
}

// Runner runs operations, each in a goroutine of its own. It is safe for
// concurrent use; the zero value is not usable: use New.
type Runner struct {
	s Settings

	mu      sync.Mutex // guards stopped and ops
	stopped bool
	ops     map[int64]context.CancelFunc
	wg      sync.WaitGroup
}

// New returns a Runner with s's defaults applied.
func New(s Settings) *Runner {
	if s.BatchSize <= 0 {
		s.BatchSize = DefaultBatchSize
	}
	if s.Window <= 0 {
		s.Window = DefaultWindow
	}
	if s.Pause == 0 {
		s.Pause = 1
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	return &Runner{s: s, ops: map[int64]context.CancelFunc{}}
}

// ErrStopped is Run's error once Stop was called.
var ErrStopped = errors.New("kiln: bulk operations are stopped in this process (the client was stopped)")

// Run starts running operation id, which this process must own and which
// must be running, in a goroutine; it returns at once. An operation that
// already runs here is left alone.
func (r *Runner) Run(id int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrStopped
	}
	if _, ok := r.ops[id]; ok {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.ops[id] = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.ops, id)
			r.mu.Unlock()
			cancel()
		}()
		r.run(ctx, id)
	}()
	return nil
}

// Stopped reports whether Stop was called (and not Reopen since): Run
// refuses operations.
func (r *Runner) Stopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// Runs reports whether operation id runs in this process now.
func (r *Runner) Runs(id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ops[id]
	return ok
}

// Running returns how many operations run in this process.
func (r *Runner) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// Stop stops every operation's goroutine, waits until each has returned,
// and leaves each unfinished operation interrupted in the store; Run
// refuses new ones after. A batch under way is left to commit or fail
// (within ctx). Stopping twice is harmless.
func (r *Runner) Stop() {
	r.mu.Lock()
	r.stopped = true
	for _, cancel := range r.ops {
		cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// Reopen lets Run start operations again after Stop (a client started
// again).
func (r *Runner) Reopen() {
	r.mu.Lock()
	r.stopped = false
	r.mu.Unlock()
}

// run runs operation id's batches until it is no longer running here or
// ctx is done; then it leaves it interrupted.
func (r *Runner) run(ctx context.Context, id int64) {
	log := r.s.Logger.With("bulk_operation", id)
	for {
		res, err := r.batch(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				r.release(id, kilntype.BulkInterrupted, "")
				return
			}
			log.Error("kiln: bulk operation failed", "error", err)
			r.release(id, kilntype.BulkFailed, err.Error())
			return
		}
		if r.s.OnBatch != nil {
			r.s.OnBatch(res.BulkBatchResult)
		}
		if op := res.Op; op.State != kilntype.BulkRunning || op.Owner != r.s.Owner {
			if op.Done() {
				log.Info("kiln: bulk operation ended", "state", op.State, "matched", op.Matched,
					"changed", op.Changed, "batches", op.Batches)
			}
			return
		}
		if !r.pause(ctx, res.Took) {
			r.release(id, kilntype.BulkInterrupted, "")
			return
		}
	}
}

// result is a batch's result and how long it took.
type result struct {
	*store.BulkBatchResult
	Took time.Duration
}

// batch runs one batch, trying again after each of retryDelays when it
// fails; it returns the last error once they are used up or ctx is done.
func (r *Runner) batch(ctx context.Context, id int64) (*result, error) {
	for try := 0; ; try++ {
		start := time.Now()
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		res, err := r.s.Store.BulkRunBatch(callCtx, &store.BulkRunBatchParams{
			ID: id, Owner: r.s.Owner, Now: r.s.Now(), Limit: r.s.BatchSize, Window: r.s.Window,
		})
		cancel()
		if err == nil {
			return &result{res, time.Since(start)}, nil
		}
		if errors.Is(err, kilntype.ErrNotFound) || try >= len(retryDelays) {
			return nil, err
		}
		r.s.Logger.Warn("kiln: bulk batch failed; trying again", "bulk_operation", id, "error", err)
		if !sleep(ctx, retryDelays[try]) {
			return nil, ctx.Err()
		}
	}
}

// pause waits Pause times took, and reports false if ctx ended first.
func (r *Runner) pause(ctx context.Context, took time.Duration) bool {
	if r.s.Pause < 0 {
		return ctx.Err() == nil
	}
	return sleep(ctx, time.Duration(float64(took)*r.s.Pause))
}

// release ends the operation as state, if it still runs here.
func (r *Runner) release(id int64, state kilntype.BulkState, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.s.Store.BulkRelease(ctx, &store.BulkReleaseParams{
		ID: id, Owner: r.s.Owner, State: state, Error: msg, Now: r.s.Now(),
	}); err != nil {
		r.s.Logger.Error("kiln: leave bulk operation "+string(state), "bulk_operation", id, "error", err)
	}
}

// sleep waits d, and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
