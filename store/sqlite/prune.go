package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// sqlOccurrenceDeleteOld deletes up to ?2 occurrences before ?1 whose job
// is gone, but not an entry's newest.
const sqlOccurrenceDeleteOld = `DELETE FROM kiln_recurring_occurrence
WHERE (recurring_id, occurrence_at) IN (
	SELECT o.recurring_id, o.occurrence_at FROM kiln_recurring_occurrence AS o
	WHERE o.occurrence_at < ?1
		AND NOT EXISTS (SELECT 1 FROM kiln_job WHERE id = o.job_id)
		AND o.occurrence_at < (SELECT max(occurrence_at) FROM kiln_recurring_occurrence
			WHERE recurring_id = o.recurring_id)
	LIMIT ?2)`

// sqlBatchDeleteOld deletes up to ?2 batches created before ?1 whose jobs
// are all gone; their member rows go by ON DELETE CASCADE.
const sqlBatchDeleteOld = `DELETE FROM kiln_batch WHERE id IN (
	SELECT b.id FROM kiln_batch AS b
	WHERE b.created_at < ?1
		AND (b.callback_job_id IS NULL OR NOT EXISTS (SELECT 1 FROM kiln_job WHERE id = b.callback_job_id))
		AND NOT EXISTS (SELECT 1 FROM kiln_batch_job AS m JOIN kiln_job AS j ON j.id = m.job_id
			WHERE m.batch_id = b.id)
	LIMIT ?2)`

// RecurringOccurrenceDeleteOld deletes old occurrences whose job is gone,
// keeping each entry's newest.
func (s *Store) RecurringOccurrenceDeleteOld(ctx context.Context, params *store.RecurringOccurrenceDeleteOldParams) (int, error) {
	before, max := params.Before, params.Max
	n, err := s.deleteOld(ctx, sqlOccurrenceDeleteOld, before, max)
	if err != nil {
		return 0, fail("delete old recurring occurrences", err)
	}
	return n, nil
}

// BatchDeleteOld deletes old batches whose jobs are all gone.
func (s *Store) BatchDeleteOld(ctx context.Context, params *store.BatchDeleteOldParams) (int, error) {
	before, max := params.Before, params.Max
	n, err := s.deleteOld(ctx, sqlBatchDeleteOld, before, max)
	if err != nil {
		return 0, fail("delete old batches", err)
	}
	return n, nil
}

// deleteOld runs one of the prune statements and returns the rows deleted.
func (s *Store) deleteOld(ctx context.Context, query string, before time.Time, max int) (int, error) {
	if max < 1 {
		return 0, nil
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		res, err := tx.ExecContext(ctx, query, micros(before), max)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	return int(n), err
}

// JobVacuum returns a zero result: SQLite's B-trees remove a row's index
// entries with the row, so no dead versions pile up for a claim to walk
// past (the file's free pages are reused, not returned: see the
// documentation of auto_vacuum).
func (s *Store) JobVacuum(context.Context, *store.JobVacuumParams) (store.JobVacuumResult, error) {
	return store.JobVacuumResult{}, nil
}
