package kilntest

import (
	"context"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/testhook"
)

// DrainOpts configure Drain. Every field's zero value means the
// documented default.
type DrainOpts struct {
	// Queues are the queues drained: default {kiln.QueueDefault}.
	Queues []string
	// Clock, if set, must be the client's Config.Clock: when no job of
	// Queues is due, Drain moves it forward to the time the next
	// scheduled, retried or snoozed job of Queues is due, and goes on, so
	// that a test runs delayed jobs and every retry of a failing job
	// without waiting (Oban's drain_queue with with_scheduled). Without
	// it, Drain runs only the jobs due now.
	Clock *Clock
	// MaxAttempts bounds how many attempts Drain runs, so that a job that
	// snoozes for ever or enqueues itself cannot hang the test: a job
	// still due after that many attempts fails the test (its attempt has
	// run). Default 1,000.
	MaxAttempts int
}

// DrainResult is what Drain did: every attempt it ran, in order.
type DrainResult struct {
	Attempts []*DrainedAttempt
}

// DrainedAttempt is one attempt Drain ran.
type DrainedAttempt struct {
	// Job is the job as it was after the attempt's outcome was written.
	Job *kiln.JobRow
	// Attempt is the attempt's record (Outcome, Error, Trace).
	Attempt kiln.JobAttempt
}

// Count returns how many of the attempts left their job in state: for
// example kiln.JobStateCompleted for the jobs completed, or
// kiln.JobStateRetryable for the failures to be retried.
func (r *DrainResult) Count(state kiln.JobState) int {
	n := 0
	for _, a := range r.Attempts {
		if a.Job.State == state {
			n++
		}
	}
	return n
}

// Drain runs c's due jobs of opts.Queues synchronously, in the calling
// goroutine, one at a time, until none is due, and returns the attempts it
// ran. c must have Workers and must not be started (Drain fails the test
// otherwise): each job is claimed, run and recorded as a started client
// would (progress, logs, events, retries with backoff, continuations
// released when their parents end), but without its loops. Each round
// first makes due scheduled and retryable jobs available, by c's clock.
// With opts.Clock, the clock moves on to each next scheduled job (see
// DrainOpts.Clock). Jobs the workers enqueue in the drained queues run in
// the same drain. Drain fails the test on a store error.
func Drain(ctx context.Context, tb testing.TB, c *kiln.Client, opts *DrainOpts) *DrainResult {
	tb.Helper()
	var o DrainOpts
	if opts != nil {
		o = *opts
	}
	if len(o.Queues) == 0 {
		o.Queues = []string{kiln.QueueDefault}
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 1000
	}
	res := &DrainResult{}
	for {
		ran := false
		for _, q := range o.Queues {
			for {
				row, params, err := testhook.DrainStep(ctx, c, q)
				if err != nil {
					tb.Fatalf("kilntest: Drain: %v", err)
				}
				if row == nil {
					break
				}
				ran = true
				after, err := c.JobGet(ctx, row.ID)
				if err != nil { // deleted by its worker, say: show it as claimed
					r := *row
					r.State = params.State
					after = &r
				}
				res.Attempts = append(res.Attempts, &DrainedAttempt{Job: after, Attempt: params.Attempt})
				if len(res.Attempts) > o.MaxAttempts {
					tb.Fatalf("kilntest: Drain ran %d attempts (DrainOpts.MaxAttempts) and jobs are still due; the next: job %d of kind %q (%s)",
						o.MaxAttempts, row.ID, row.Kind, params.Attempt.Outcome)
				}
			}
		}
		if ran {
			continue // a job run may have released or enqueued others
		}
		if o.Clock == nil {
			return res
		}
		next, ok := nextDue(ctx, tb, c, o.Queues)
		if !ok || !next.After(o.Clock.Now()) {
			return res
		}
		o.Clock.Set(next)
	}
}

// nextDue returns the earliest ScheduledAt of the scheduled and retryable
// jobs of queues, or false if there is none.
func nextDue(ctx context.Context, tb testing.TB, c *kiln.Client, queues []string) (time.Time, bool) {
	tb.Helper()
	p := &kiln.JobListParams{
		States: []kiln.JobState{kiln.JobStateScheduled, kiln.JobStateRetryable},
		Queues: queues, OrderAsc: true, Limit: 1000, ArgsPreview: 1,
	}
	var next time.Time
	for {
		page, err := c.JobList(ctx, p)
		if err != nil {
			tb.Fatalf("kilntest: Drain: %v", err)
		}
		for _, j := range page.Jobs {
			if next.IsZero() || j.ScheduledAt.Before(next) {
				next = j.ScheduledAt
			}
		}
		if page.NextCursor == 0 {
			return next, !next.IsZero()
		}
		p.Cursor = page.NextCursor
	}
}
