package kiln

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/kilnjobs/kiln/internal/bulk"
	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// JobFilter selects the jobs of a bulk operation with a list's filters
// (JobListParams' States, Kinds, Queues, Tag, ArgsContains, CreatedFrom,
// CreatedBefore); re-exported from kilntype. The zero value matches every
// job.
type JobFilter = kilntype.JobFilter

// BulkAction is what a bulk operation does to each job: BulkRetry,
// BulkCancel, BulkDelete or BulkMove; re-exported from kilntype.
type BulkAction = kilntype.BulkAction

// BulkState is the state of a bulk operation (BulkRunning, BulkCompleted,
// BulkCancelled, BulkFailed, BulkInterrupted); re-exported from kilntype.
type BulkState = kilntype.BulkState

// BulkOperation is a bulk operation as the store keeps it: its action,
// filter, state and progress; re-exported from kilntype.
type BulkOperation = kilntype.BulkOperation

// The bulk actions and states (see kilntype).
const (
	BulkRetry  = kilntype.BulkRetry
	BulkCancel = kilntype.BulkCancel
	BulkDelete = kilntype.BulkDelete
	BulkMove   = kilntype.BulkMove

	BulkRunning     = kilntype.BulkRunning
	BulkCompleted   = kilntype.BulkCompleted
	BulkCancelled   = kilntype.BulkCancelled
	BulkFailed      = kilntype.BulkFailed
	BulkInterrupted = kilntype.BulkInterrupted
)

// BulkBatchSize is the most jobs one batch of a bulk operation changes,
// in one transaction of its own; BulkWindow the most consecutive job IDs
// one batch examines. A batch holds its locks (on SQLite, the write lock)
// for milliseconds, and waits as long again before the next, so that
// enqueues, claims and outcomes go on during an operation on millions of
// jobs.
const (
	BulkBatchSize = bulk.DefaultBatchSize
	BulkWindow    = bulk.DefaultWindow
)

// BulkStaleAfter is how long a running bulk operation may go without a
// batch before it counts as abandoned (its process died): JobBulkCancel
// then cancels it at once and JobBulkResume takes it over.
const BulkStaleAfter = bulk.DefaultStaleAfter

// DefaultBulkRetention is how long a bulk operation is kept once it ended
// when Config.BulkRetention is 0: 7 days.
const DefaultBulkRetention = 7 * 24 * time.Hour

// JobFilterOf returns the filter of p's States, Kinds, Queues, Tag,
// ArgsContains, CreatedFrom and CreatedBefore: the jobs of a list, for a
// bulk operation on all of them.
func JobFilterOf(p *JobListParams) JobFilter {
	return JobFilter{
		States: slices.Clone(p.States), Kinds: slices.Clone(p.Kinds), Queues: slices.Clone(p.Queues),
		Tag: p.Tag, ArgsContains: p.ArgsContains, CreatedFrom: p.CreatedFrom, CreatedBefore: p.CreatedBefore,
	}
}

// BulkParams describes a bulk operation.
type BulkParams struct {
	Action BulkAction // what to do to each job: BulkRetry, BulkCancel, BulkDelete or BulkMove
	Filter JobFilter  // which jobs: those it matches among the jobs stored when the operation starts
	// TargetQueue is the queue BulkMove moves jobs to; required for a
	// move, refused with other actions.
	TargetQueue string
}

// newBulkRunner returns the runner of c's bulk operations.
func (c *Client) newBulkRunner() *bulk.Runner {
	return bulk.New(bulk.Settings{
		Store:  c.cfg.Store,
		Owner:  c.cfg.ID,
		Now:    c.now,
		Logger: c.cfg.Logger,
		OnBatch: func(res *store.BulkBatchResult) {
			c.wake(res.Queues...)
			for _, id := range res.CancelRequested {
				c.cancelLocal(id, jobexec.ErrCancelRequested)
			}
		},
	})
}

// JobBulk starts a bulk operation: params.Action on every job that
// params.Filter matches among the jobs stored now (jobs enqueued later are
// left alone), and returns it as stored, running. Its batches run in the
// background, in this process, whether or not the client is started,
// until they are done, JobBulkCancel is called (from any process sharing
// the store), or the client stops (Stop or StopAndCancel), which leaves
// it interrupted (after Stop, JobBulk fails until the client is started
// again): JobBulkResume goes on from where it stopped. Poll its
// progress with JobBulkGet. Each job is changed as the action on one job
// changes it (JobRetry, JobCancel, JobDelete; BulkMove changes its queue),
// and the jobs whose state does not allow it are skipped and counted (a
// running job is never retried, deleted or moved). An invalid action,
// filter or queue gives an error wrapping a *ValidationError.
func (c *Client) JobBulk(ctx context.Context, params *BulkParams) (*BulkOperation, error) {
	if params == nil {
		return nil, errors.New("kiln: bulk: params are nil")
	}
	if c.bulk.Stopped() {
		return nil, fmt.Errorf("kiln: bulk %s: %w", params.Action, bulk.ErrStopped)
	}
	op, err := c.cfg.Store.BulkCreate(ctx, &store.BulkCreateParams{
		Action: params.Action, Filter: params.Filter, TargetQueue: params.TargetQueue,
		Owner: c.cfg.ID, Now: c.now(),
	})
	if err != nil {
		return nil, fmt.Errorf("kiln: bulk %s: %w", params.Action, err)
	}
	c.audit(ctx, AuditBulkStart, strconv.FormatInt(op.ID, 10), map[string]any{"action": op.Action, "filter": op.Filter,
		"target_queue": op.TargetQueue})
	return op, c.runBulk(op)
}

// runBulk runs op's batches in c's runner if it runs here.
func (c *Client) runBulk(op *BulkOperation) error {
	if op.State != BulkRunning {
		return nil
	}
	if err := c.bulk.Run(op.ID); err != nil {
		// Nothing runs it: leave it for another process to resume.
		_, _ = c.cfg.Store.BulkRelease(context.Background(), &store.BulkReleaseParams{
			ID: op.ID, Owner: c.cfg.ID, State: BulkInterrupted, Now: c.now(),
		})
		return fmt.Errorf("kiln: bulk operation %d: %w", op.ID, err)
	}
	return nil
}

// JobBulkGet returns bulk operation id as stored, or an error wrapping
// ErrNotFound. A running operation whose UpdatedAt is older than
// BulkStaleAfter has lost its process: it is returned interrupted, unless
// it runs in this very process (a batch slowed by a loaded database).
func (c *Client) JobBulkGet(ctx context.Context, id int64) (*BulkOperation, error) {
	op, err := c.cfg.Store.BulkGet(ctx, &store.BulkGetParams{ID: id})
	if err != nil {
		return nil, fmt.Errorf("kiln: get bulk operation %d: %w", id, err)
	}
	c.showStale(op)
	return op, nil
}

// showStale shows a running operation whose process is gone as
// interrupted: one not updated for BulkStaleAfter, unless this process
// runs it (its goroutine is alive, waiting on a slow batch).
func (c *Client) showStale(op *BulkOperation) {
	if op.State == BulkRunning && op.UpdatedAt.Before(c.now().Add(-BulkStaleAfter)) &&
		(op.Owner != c.cfg.ID || !c.bulk.Runs(op.ID)) {
		op.State = BulkInterrupted
	}
}

// JobBulkList returns bulk operations, newest first: at most limit (0:
// 20, at most 1,000), with IDs below cursor when it is not 0.
func (c *Client) JobBulkList(ctx context.Context, cursor int64, limit int) ([]*BulkOperation, error) {
	ops, err := c.cfg.Store.BulkList(ctx, &store.BulkListParams{Cursor: cursor, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("kiln: list bulk operations: %w", err)
	}
	for _, op := range ops {
		c.showStale(op)
	}
	return ops, nil
}

// JobBulkCancel cancels bulk operation id and returns it: a running one
// stops before its next batch (within milliseconds, in whichever process
// runs it; the batches already made stay made), an interrupted one (or a
// running one whose process is gone) at once. An operation that ended is
// returned as is; an unknown ID gives an error wrapping ErrNotFound.
func (c *Client) JobBulkCancel(ctx context.Context, id int64) (*BulkOperation, error) {
	now := c.now()
	op, err := c.cfg.Store.BulkCancel(ctx, &store.BulkCancelParams{ID: id, Now: now, StaleBefore: now.Add(-BulkStaleAfter)})
	if err != nil {
		return nil, fmt.Errorf("kiln: cancel bulk operation %d: %w", id, err)
	}
	c.audit(ctx, AuditBulkCancel, strconv.FormatInt(id, 10), map[string]any{"action": op.Action, "state": op.State})
	return op, nil
}

// JobBulkResume runs an interrupted bulk operation (or a running one whose
// process is gone: not updated for BulkStaleAfter) again in this process,
// from where it stopped, and returns it. Another operation gives an
// error wrapping ErrJobState; an unknown ID, ErrNotFound.
func (c *Client) JobBulkResume(ctx context.Context, id int64) (*BulkOperation, error) {
	now := c.now()
	op, err := c.cfg.Store.BulkResume(ctx, &store.BulkResumeParams{
		ID: id, Owner: c.cfg.ID, Now: now, StaleBefore: now.Add(-BulkStaleAfter),
	})
	if err != nil {
		return nil, fmt.Errorf("kiln: resume bulk operation %d: %w", id, err)
	}
	c.audit(ctx, AuditBulkResume, strconv.FormatInt(id, 10), map[string]any{"action": op.Action})
	return op, c.runBulk(op)
}

// countFromCounters validates filter and returns it (a zero filter for
// nil) with its count from the counters the store keeps, true, when it
// filters by states and queues only; else false.
func (c *Client) countFromCounters(ctx context.Context, filter *JobFilter) (JobFilter, int, bool, error) {
	f := JobFilter{}
	if filter != nil {
		f = *filter
	}
	if err := store.ValidateJobFilter(&f); err != nil {
		return f, 0, false, fmt.Errorf("kiln: count jobs: %w", err)
	}
	if len(f.Kinds) > 0 || f.Tag != "" || f.ArgsContains != "" || !f.CreatedFrom.IsZero() || !f.CreatedBefore.IsZero() {
		return f, 0, false, nil
	}
	counts, err := c.cfg.Store.JobCountByQueueState(ctx)
	if err != nil {
		return f, 0, false, fmt.Errorf("kiln: count jobs: %w", err)
	}
	n := 0
	for _, jc := range counts {
		if (len(f.States) == 0 || slices.Contains(f.States, jc.State)) &&
			(len(f.Queues) == 0 || slices.Contains(f.Queues, jc.Queue)) {
			n += jc.Count
		}
	}
	return f, n, true, nil
}

// JobCountMatchingBounded returns how many stored jobs filter matches, as
// JobCountMatching does, but stops counting above limit (at least 1):
// when exact is false, more than n jobs match and n is limit. A filter
// of states and queues only is counted exactly from the counters; any
// other in one store call that reads at most limit+1 matching entries of
// the index that suits the filter (an in-flight state's, a finished
// state's with its kind, for a tag the tag's), so that its cost is bounded
// by limit rather than by the jobs stored, except for a filter of args
// text or creation time whose index entries must be read one by one, and,
// on PostgreSQL, a filter of kinds or queues of finished states, which
// reads the states' entries of kiln_job_finished (the kind and queue on
// the entry, no row) until limit+1 match, or of other states, which walks
// the jobs (bound it with ctx). This is what a confirmation page shows
// before a bulk operation, which counts the jobs exactly as it runs
// (BulkOperation.Matched).
func (c *Client) JobCountMatchingBounded(ctx context.Context, filter *JobFilter, limit int) (n int, exact bool, err error) {
	f, n, counted, err := c.countFromCounters(ctx, filter)
	if err != nil || counted {
		return n, counted, err
	}
	limit = max(limit, 1)
	n, err = c.cfg.Store.JobCountMatching(ctx, &store.JobCountMatchingParams{Filter: f, Limit: limit + 1})
	if err != nil {
		return 0, false, fmt.Errorf("kiln: count jobs: %w", err)
	}
	if n > limit {
		return limit, false, nil
	}
	return n, true, nil
}

// JobCountWindow is how many consecutive job IDs JobCountMatching counts
// in one store call.
const JobCountWindow = 100_000

// JobCountMatching returns how many stored jobs filter matches: what a
// bulk operation with it would examine (its Matched at the end, if no job
// changes meanwhile). A filter of states and queues only is counted from
// the counters the store keeps (Stats), at once; any other is counted
// over the jobs, JobCountWindow IDs per store call, reading each job that
// passes the indexed filters (a million jobs take about a second). When
// ctx ends first, it returns the count so far, a lower bound, with ctx's
// error.
func (c *Client) JobCountMatching(ctx context.Context, filter *JobFilter) (int, error) {
	f, n, counted, err := c.countFromCounters(ctx, filter)
	if err != nil || counted {
		return n, err
	}
	oldest, err := c.cfg.Store.JobList(ctx, &store.JobListParams{OrderAsc: true, Limit: 1, ArgsPreview: 1})
	if err != nil {
		return 0, fmt.Errorf("kiln: count jobs: %w", err)
	}
	newest, err := c.cfg.Store.JobList(ctx, &store.JobListParams{Limit: 1, ArgsPreview: 1})
	if err != nil || len(oldest) == 0 || len(newest) == 0 {
		return 0, err
	}
	n = 0
	for after := oldest[0].ID - 1; after < newest[0].ID; after += JobCountWindow {
		m, err := c.cfg.Store.JobCountMatching(ctx, &store.JobCountMatchingParams{
			Filter: f, After: after, UpTo: min(after+JobCountWindow, newest[0].ID),
		})
		if err != nil {
			return n, fmt.Errorf("kiln: count jobs: %w", err)
		}
		n += m
	}
	return n, nil
}
