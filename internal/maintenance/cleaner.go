package maintenance

import (
	"context"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// cleaner deletes finished jobs, with their attempts, once they are older
// than their retention (Hangfire expires succeeded jobs after a day): their
// state's, or that of the most specific rule per kind and queue, from the
// Config or set at run time in the store (store.RetentionStore),
// then the recurring occurrences and batches whose jobs are all gone, and
// the audit entries older than AuditRetention, and the bulk operations
// that ended longer than BulkRetention ago. A store that reads the jobs
// by ID ranges keeps its place in s.cleaned from pass to pass
// (store.CleanProgress); a pass that it cut short at its read bound
// repeats at once, as one that deleted a full batch does, and goes on to
// the other rows every cleanRepeats passes in a row, so that they do not
// wait for the end of a first pass over millions of jobs.
func (s *Services) cleaner() Task {
	return Task{Name: "cleaner", Interval: s.cfg.CleanInterval, Run: func(ctx context.Context) (int, error) {
		now := s.cfg.Now()
		// Reports of processes gone for a day.
		if _, err := s.cfg.Store.ServiceDeleteStale(ctx, &store.ServiceDeleteStaleParams{Before: now.Add(-24 * time.Hour)}); err != nil {
			return 0, err
		}
		// The rules set at run time, read on every pass, win over the
		// Config's.
		stored, err := s.cfg.Store.RetentionList(ctx)
		if err != nil {
			return 0, err
		}
		p := &store.JobDeleteFinishedParams{
			CompletedBefore: now.Add(-s.cfg.CompletedRetention),
			CancelledBefore: now.Add(-s.cfg.CancelledRetention),
			DiscardedBefore: now.Add(-s.cfg.DiscardedRetention),
			Max:             batchSize,
			Now:             now,
			Progress:        &s.cleaned,
		}
		p.SetRetention(store.MergeRetention(s.cfg.Retention, stored), now)
		n, err := s.cfg.Store.JobDeleteFinished(ctx, p)
		if err == nil && s.cleaned.More {
			n = max(n, batchSize) // the store stopped at its read bound
		}
		if err != nil {
			return n, err
		}
		if n >= batchSize {
			// More jobs first: the pass repeats at once.
			if s.repeats++; s.repeats < cleanRepeats {
				return n, nil
			}
		}
		s.repeats = 0
		// The rows that outlive their jobs: recurring occurrences (one per
		// run) and batches, once older than any job is kept.
		before := now.Add(-max(s.cfg.CompletedRetention, s.cfg.CancelledRetention, s.cfg.DiscardedRetention))
		o, err := s.cfg.Store.RecurringOccurrenceDeleteOld(ctx, &store.RecurringOccurrenceDeleteOldParams{Before: before, Max: batchSize})
		if err != nil {
			return 0, err
		}
		b, err := s.cfg.Store.BatchDeleteOld(ctx, &store.BatchDeleteOldParams{Before: before, Max: batchSize})
		if err != nil {
			return 0, err
		}
		// Audit entries past their retention.
		a := 0
		if s.cfg.AuditRetention > 0 {
			a, err = s.cfg.Store.AuditDeleteOld(ctx, &store.AuditDeleteOldParams{Before: now.Add(-s.cfg.AuditRetention), Max: batchSize})
			if err != nil {
				return 0, err
			}
		}
		// Bulk operations ended before their retention.
		ops := 0
		if s.cfg.BulkRetention > 0 {
			ops, err = s.cfg.Store.BulkDeleteOld(ctx, &store.BulkDeleteOldParams{Before: now.Add(-s.cfg.BulkRetention), Max: batchSize})
			if err != nil {
				return 0, err
			}
		}
		return max(n, o, b, a, ops), nil
	}}
}

// cleanRepeats is how many passes in a row the cleaner spends on jobs
// alone, at most, before a pass also deletes the other rows.
const cleanRepeats = 10
