package kiln

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// Reasons an occurrence of a recurring entry got no job
// (RecurringRun.Skipped).
const (
	// RecurringSkipOverlap ("overlap"): an earlier run was unfinished and the entry's
	// overlap policy (OverlapSkip, or OverlapQueueOne with a run already
	// waiting) skipped the occurrence.
	RecurringSkipOverlap = store.SkipOverlap
	// RecurringSkipMisfire ("misfire"): the occurrences were missed (no scheduler saw
	// them within Config.MisfireThreshold) and the entry's misfire policy
	// gave them no job.
	RecurringSkipMisfire = store.SkipMisfire
)

// MaxRecurringRuns is the most runs RecurringRuns returns at once.
const MaxRecurringRuns = 1000

// RecurringRun is one line of a recurring entry's history: an occurrence
// and the job enqueued for it, or occurrences that got no job and why.
type RecurringRun struct {
	// At is the occurrence's time (UTC); for a run of missed occurrences,
	// the first of them.
	At time.Time
	// JobID is the job enqueued for the occurrence; 0 when skipped.
	JobID int64
	// State is the job's state; "" when skipped or when the job was
	// deleted (by retention).
	State JobState
	// StartedAt is when the job's first attempt started; nil before.
	StartedAt *time.Time
	// FinishedAt is when the job reached a final state; nil before.
	FinishedAt *time.Time
	// Duration is how long the job's latest attempt ran, from its start to
	// the job's end: 0 until the job is finalized, and for a job finalized
	// without running (cancelled while waiting).
	Duration time.Duration
	// Lateness is StartedAt - At: how long after its occurrence the job
	// started (a queue backlog, a catch-up, a wait for the previous run);
	// 0 before it started.
	Lateness time.Duration
	// Attempt is the number of attempts the job has started.
	Attempt int
	// Skipped is "" for an occurrence that got a job, else why it got none:
	// RecurringSkipOverlap or RecurringSkipMisfire.
	Skipped string
	// Policy is, for a skip, the policy that decided it: the entry's
	// OverlapPolicy for RecurringSkipOverlap, its MisfirePolicy for
	// RecurringSkipMisfire.
	Policy string
	// Through is, for a skip, its last occurrence (At for one); Count is
	// how many occurrences it stands for (1 for an overlap; for missed
	// ones, a lower bound when the scheduler was more than 100,000
	// occurrences behind). Both are zero for a run that got a job.
	Through time.Time
	Count   int
}

// RecurringRuns returns the entry's last runs, newest first by occurrence
// time, at most limit (0 or less: 10; more than MaxRecurringRuns is cut to
// it): each occurrence enqueued, with its job's state, start, duration and
// lateness, and each one skipped, with why (the scheduler keeps the newest
// 100 skips of an entry). Occurrences whose jobs the cleaner deleted long
// ago are pruned with them (see Config retention). An unknown entry gives
// a wrapped ErrNotFound. Its cost is two index range reads of limit rows
// and one job lookup by ID per run, whatever the number of jobs.
func (c *Client) RecurringRuns(ctx context.Context, id string, limit int) ([]*RecurringRun, error) {
	if limit <= 0 {
		limit = 10
	}
	limit = min(limit, MaxRecurringRuns)
	fail := func(err error) ([]*RecurringRun, error) {
		return nil, fmt.Errorf("kiln: list runs of recurring job %q: %w", id, err)
	}
	if err := checkLookupID(id); err != nil {
		return fail(err)
	}
	if _, err := c.cfg.Store.RecurringGet(ctx, &store.RecurringGetParams{ID: id}); err != nil {
		return fail(err)
	}
	occ, err := c.cfg.Store.RecurringOccurrenceList(ctx, &store.RecurringOccurrenceListParams{ID: id, Limit: limit})
	if err != nil {
		return fail(err)
	}
	skips, err := c.cfg.Store.RecurringSkipList(ctx, &store.RecurringSkipListParams{ID: id, Limit: min(limit, store.MaxRecurringSkips)})
	if err != nil {
		return fail(err)
	}
	return mergeRuns(occ, skips, limit), nil
}

// mergeRuns merges an entry's occurrences and skips, each newest first,
// into at most limit runs, newest first. A skip at the time of an
// occurrence (a racing scheduler enqueued it after all) is left out.
func mergeRuns(occ []*store.RecurringOccurrence, skips []*store.RecurringSkip, limit int) []*RecurringRun {
	runs := make([]*RecurringRun, 0, len(occ)+len(skips))
	enqueued := make(map[time.Time]bool, len(occ))
	for _, o := range occ {
		enqueued[o.At] = true
		r := &RecurringRun{At: o.At, JobID: o.JobID, State: o.JobState, StartedAt: o.StartedAt,
			FinishedAt: o.FinalizedAt, Attempt: o.Attempt}
		if o.StartedAt != nil {
			r.Lateness = max(o.StartedAt.Sub(o.At), 0)
		}
		if o.FinalizedAt != nil && o.AttemptedAt != nil {
			r.Duration = max(o.FinalizedAt.Sub(*o.AttemptedAt), 0)
		}
		runs = append(runs, r)
	}
	for _, k := range skips {
		if enqueued[k.At] {
			continue
		}
		runs = append(runs, &RecurringRun{At: k.At, Skipped: k.Reason, Policy: k.Policy, Through: k.Through, Count: k.Count})
	}
	slices.SortStableFunc(runs, func(a, b *RecurringRun) int { return cmp.Compare(b.At.UnixNano(), a.At.UnixNano()) })
	if len(runs) > limit {
		runs = runs[:limit]
	}
	return runs
}
