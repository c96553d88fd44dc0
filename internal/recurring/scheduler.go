// Package recurring runs the recurring scheduler: the leader-only service
// that enqueues one job per occurrence of every recurring entry. It sleeps
// until the earliest next occurrence (or until woken by a change made in
// this process, or at most PollInterval, to see changes made by other
// processes), then enqueues what is due through the store, which enforces
// one job per (entry, occurrence time) in the database.
package recurring

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/schedule"
	"github.com/kilnjobs/kiln/store"
)

// Config configures a Scheduler. Every field is required.
type Config struct {
	Store  store.Store
	Now    func() time.Time
	Logger *slog.Logger
	// PollInterval bounds each sleep, so that entries changed by other
	// processes are seen within it.
	PollInterval time.Duration
	// MisfireThreshold is how late an occurrence may be seen and still count
	// as on time; older ones are missed and follow the misfire policy.
	MisfireThreshold time.Duration
	// JobParams builds the job to insert for an occurrence of row at at.
	JobParams func(row *kilntype.RecurringRow, at time.Time) (*store.JobInsertParams, error)
	// HasWorker reports whether this process has a worker for kind.
	HasWorker func(kind string) bool
	// OnEnqueued (optional) is called with each job enqueued.
	OnEnqueued func(row *kilntype.RecurringRow, job *kilntype.JobRow)
}

// Scheduler enqueues due occurrences. Create it with New.
type Scheduler struct {
	cfg    Config
	wake   chan struct{}
	runner service.Runner
	parsed map[string]schedule.Schedule // spec+zone -> schedule; the loop's own
}

// New returns a Scheduler; Start runs it.
func New(cfg Config) *Scheduler {
	return &Scheduler{cfg: cfg, wake: make(chan struct{}, 1), parsed: make(map[string]schedule.Schedule)}
}

// Start starts the scheduler loop.
func (s *Scheduler) Start(ctx context.Context) { s.runner.Start(ctx, s.run) }

// Stop stops the loop and waits for it.
func (s *Scheduler) Stop() { s.runner.Stop() }

// Wake makes the scheduler look at the entries at once (one changed).
func (s *Scheduler) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// maxCatchUp bounds how many occurrences one entry walks through when
// catching up, so a per-second entry left alone for a year cannot stall the
// scheduler; past it the walk jumps to now.
const maxCatchUp = 100_000

func (s *Scheduler) run(ctx context.Context) {
	service.Poll(ctx, s.wake, s.cfg.PollInterval,
		func(ctx context.Context) (time.Duration, error) {
			if err := s.pass(ctx); err != nil {
				return 0, err
			}
			// Sleep until the next occurrence (Poll caps it at PollInterval).
			next, ok, err := s.cfg.Store.RecurringNextDue(ctx)
			if err != nil || !ok {
				return s.cfg.PollInterval, nil
			}
			return next.Sub(s.cfg.Now()), nil
		},
		func(err error, failures int, wait time.Duration) {
			s.cfg.Logger.Error("kiln: recurring scheduler pass failed; retrying", "try", failures, "retry_in", wait, "err", err)
		})
}

// pass enqueues every due occurrence, a page of due entries per
// transaction.
func (s *Scheduler) pass(ctx context.Context) error {
	const page = 500
	for {
		rows, err := s.cfg.Store.RecurringListDue(ctx, &store.RecurringListDueParams{Now: s.cfg.Now(), Max: page})
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		batch := make([]*store.RecurringEnqueueParams, len(rows))
		for i, row := range rows {
			if batch[i], err = s.plan(row); err != nil {
				// One entry that cannot be planned (its stored job does not
				// build) must not hold back the others: record its error
				// and look at it again in an hour.
				s.cfg.Logger.Error("kiln: recurring entry cannot be enqueued", "id", row.ID, "err", err)
				batch[i] = retryLater(row, err.Error(), s.cfg.Now())
			}
		}
		// Each entry's error is written with its enqueue, in one
		// transaction: a pass cut short (its leader deposed, say) after
		// the enqueue cannot leave the error unwritten until the entry's
		// next occurrence.
		results, err := s.cfg.Store.RecurringEnqueueMany(ctx, batch)
		if err != nil {
			return err
		}
		for i, row := range rows {
			s.report(row, results[i])
		}
		if len(rows) < page {
			return nil
		}
	}
}

// Plan is what the scheduler does with one due entry.
type Plan struct {
	Enqueue []time.Time // occurrences to enqueue, oldest first
	Next    time.Time   // the entry's next occurrence after now
	// Dropped is the run of missed occurrences the misfire policy gives
	// no job, for the entry's history; Count 0 when there is none.
	Dropped Dropped
}

// Dropped is a run of missed occurrences that get no job: from First
// through Last, Count of them (those walked: a lower bound when the walk
// jumped past maxCatchUp occurrences).
type Dropped struct {
	First, Last time.Time
	Count       int
}

// PlanOccurrences applies the misfire policy to the occurrences of sched
// from next (the entry's NextRunAt) up to now. Occurrences due more than
// threshold before now are missed; the others are on time and always
// enqueued. Missed ones follow the policy: MisfireSkip drops them,
// MisfireRunOnce enqueues the latest of them only when no occurrence is on
// time, MisfireRunAll enqueues the latest misfireMax of them.
func PlanOccurrences(sched schedule.Schedule, next, now time.Time, threshold time.Duration, policy kilntype.MisfirePolicy, misfireMax int) Plan {
	keep := 1 // missed occurrences worth remembering: the latest
	if policy == kilntype.MisfireRunAll {
		keep = max(misfireMax, 1)
	}
	var (
		missed, onTime []time.Time
		nMissed        int
		first, trimmed time.Time // the first missed; the latest one trimmed from missed
	)
	t := next
	for i := 0; !t.IsZero() && !t.After(now); i++ {
		if i == maxCatchUp {
			// Too far behind to walk: count the rest as missed, and go on
			// from the latest occurrence before now.
			t = sched.Next(now.Add(-threshold))
			continue
		}
		if t.Before(now.Add(-threshold)) {
			if nMissed++; nMissed == 1 {
				first = t
			}
			if missed = append(missed, t); len(missed) > keep {
				trimmed, missed = missed[0], missed[1:]
			}
		} else {
			onTime = append(onTime, t)
		}
		t = sched.Next(t)
	}
	p := Plan{Next: t}
	// kept is how many of the latest missed occurrences get a job.
	kept := 0
	switch policy {
	case kilntype.MisfireRunAll:
		p.Enqueue, kept = append(missed, onTime...), len(missed)
	case kilntype.MisfireRunOnce:
		if len(onTime) == 0 && len(missed) > 0 {
			p.Enqueue, kept = missed[len(missed)-1:], 1
		} else {
			p.Enqueue = onTime
		}
	default: // MisfireSkip
		p.Enqueue = onTime
	}
	if n := nMissed - kept; n > 0 {
		p.Dropped = Dropped{First: first, Count: n, Last: trimmed}
		if kept < len(missed) { // the dropped run ends at missed[len(missed)-kept-1]
			p.Dropped.Last = missed[len(missed)-kept-1]
		}
	}
	return p
}

// schedule returns the parsed schedule of row, from a cache: parsing is most
// of the CPU a pass spends on an entry. Only the scheduler's goroutine
// calls it.
func (s *Scheduler) schedule(row *kilntype.RecurringRow) (schedule.Schedule, error) {
	key := row.Schedule + "\x00" + row.TimeZone
	if sched, ok := s.parsed[key]; ok {
		return sched, nil
	}
	sched, err := schedule.Parse(row.Schedule, row.TimeZone)
	if err != nil {
		return nil, err
	}
	if len(s.parsed) >= maxParsed {
		clear(s.parsed)
	}
	s.parsed[key] = sched
	return sched, nil
}

// maxParsed bounds the parsed-schedule cache.
const maxParsed = 100_000

// retryLater returns the enqueue of row that records message as its error
// and looks at it again an hour after now.
func retryLater(row *kilntype.RecurringRow, message string, now time.Time) *store.RecurringEnqueueParams {
	return &store.RecurringEnqueueParams{ID: row.ID, PrevNextRunAt: row.NextRunAt, NextRunAt: now.Add(time.Hour),
		LastError: &message, Now: now}
}

// plan returns what to enqueue for the due entry row, with the entry's
// error when it changes.
func (s *Scheduler) plan(row *kilntype.RecurringRow) (*store.RecurringEnqueueParams, error) {
	now := s.cfg.Now()
	sched, err := s.schedule(row)
	if err != nil {
		// Entries are validated when defined; a stored one that no longer
		// parses is kept, shown with its error, and looked at again in an
		// hour.
		s.cfg.Logger.Error("kiln: recurring entry has an invalid schedule", "id", row.ID, "err", err)
		return retryLater(row, fmt.Sprintf("invalid schedule: %v", err), now), nil
	}
	plan := PlanOccurrences(sched, row.NextRunAt, now, s.cfg.MisfireThreshold, row.Misfire, row.MisfireMax)
	params := &store.RecurringEnqueueParams{
		ID: row.ID, Overlap: row.Overlap, PrevNextRunAt: row.NextRunAt, NextRunAt: plan.Next, Now: now,
	}
	msg := ""
	if !s.cfg.HasWorker(row.Kind) {
		msg = fmt.Sprintf("no worker for kind %q in the scheduling process; its jobs wait for a process that has one", row.Kind)
	}
	if msg != row.LastError {
		params.LastError = &msg
	}
	if d := plan.Dropped; d.Count > 0 {
		params.Skips = []store.RecurringSkip{{At: d.First, Through: d.Last, Count: d.Count,
			Reason: store.SkipMisfire, Policy: string(row.Misfire)}}
		s.cfg.Logger.Info("kiln: recurring occurrences missed and skipped by the misfire policy",
			"id", row.ID, "first", d.First, "last", d.Last, "count", d.Count, "policy", row.Misfire)
	}
	for _, at := range plan.Enqueue {
		job, err := s.cfg.JobParams(row, at)
		if err != nil {
			return nil, err
		}
		params.Occurrences = append(params.Occurrences, store.RecurringOccurrenceInsert{At: at, Job: job})
	}
	return params, nil
}

// report logs what happened to row's occurrences.
func (s *Scheduler) report(row *kilntype.RecurringRow, results []store.RecurringOccurrenceResult) {
	for _, r := range results {
		switch {
		case r.Job != nil:
			s.cfg.Logger.Debug("kiln: recurring job enqueued", "id", row.ID, "occurrence", r.At, "job_id", r.Job.ID, "state", r.Job.State)
			if s.cfg.OnEnqueued != nil {
				s.cfg.OnEnqueued(row, r.Job)
			}
		case r.Skipped == store.SkipOverlap:
			s.cfg.Logger.Info("kiln: recurring occurrence skipped: the previous run has not finished", "id", row.ID, "occurrence", r.At)
		}
	}
}
