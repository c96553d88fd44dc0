package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// insertDependencies records the parents and batches of the jobs just
// inserted in tx (results holds them; a unique-skipped job records nothing).
func insertDependencies(ctx context.Context, tx *sql.Tx, params []*store.JobInsertParams, results []store.JobInsertResult, now int64) error {
	exists, err := tx.PrepareContext(ctx, `SELECT 1 FROM kiln_job WHERE id = ?`)
	if err != nil {
		return err
	}
	defer exists.Close()
	addParent, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO kiln_job_parent (child_id, parent_id, on_failure) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer addParent.Close()
	batches := map[string]bool{} // the batches this call made
	for i, p := range params {
		if results[i].UniqueSkipped {
			continue
		}
		child := results[i].Job.ID
		parents := append([]int64(nil), p.ParentIDs...)
		for _, ref := range p.ParentRefs {
			parents = append(parents, results[ref].Job.ID)
		}
		for _, parent := range parents {
			var one int
			if err := exists.QueryRowContext(ctx, parent).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("param %d: parent job %d: %w", i, parent, kilntype.ErrNotFound)
			} else if err != nil {
				return fmt.Errorf("param %d: parent job %d: %w", i, parent, err)
			}
			if _, err := addParent.ExecContext(ctx, child, parent, string(p.ParentFailure)); err != nil {
				return fmt.Errorf("param %d: record parent %d: %w", i, parent, err)
			}
		}
		if p.BatchID == "" {
			continue
		}
		if !batches[p.BatchID] {
			res, err := tx.ExecContext(ctx, `INSERT INTO kiln_batch (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, p.BatchID, now)
			if err != nil {
				return fmt.Errorf("param %d: create batch: %w", i, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("param %d: create batch: %w", i, err)
			} else if n == 0 {
				return fmt.Errorf("param %d: %w", i, store.BatchExistsError(p.BatchID))
			}
			batches[p.BatchID] = true
		}
		if p.BatchCallback {
			_, err = tx.ExecContext(ctx, `UPDATE kiln_batch SET callback_job_id = ? WHERE id = ?`, child, p.BatchID)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO kiln_batch_job (batch_id, job_id) VALUES (?, ?)`, p.BatchID, child)
		}
		if err != nil {
			return fmt.Errorf("param %d: record batch: %w", i, err)
		}
	}
	return nil
}

// sqlReleasable returns up to ?1 pending jobs none of whose parents is still
// unfinished, oldest first.
const sqlReleasable = `SELECT c.id FROM kiln_job AS c INDEXED BY kiln_job_state_inflight
WHERE c.state = 'pending' AND ` + sqlInflightPredicate + ` AND NOT EXISTS (
	SELECT 1 FROM kiln_job_parent AS d JOIN kiln_job AS p ON p.id = d.parent_id
	WHERE d.child_id = c.id AND p.state NOT IN ('completed', 'cancelled', 'discarded'))
ORDER BY c.id
LIMIT ?1`

// sqlReleasableChildren is sqlReleasable restricted to the children of the
// jobs whose IDs are in the JSON array ?2, found through
// kiln_job_parent_parent.
const sqlReleasableChildren = `SELECT c.id FROM kiln_job AS c
WHERE c.id IN (SELECT d.child_id FROM kiln_job_parent AS d WHERE d.parent_id IN (SELECT value FROM json_each(?2)))
	AND c.state = 'pending' AND NOT EXISTS (
	SELECT 1 FROM kiln_job_parent AS d JOIN kiln_job AS p ON p.id = d.parent_id
	WHERE d.child_id = c.id AND p.state NOT IN ('completed', 'cancelled', 'discarded'))
ORDER BY c.id
LIMIT ?1`

// sqlFailedParent returns the first parent of ?1 that did not complete, with
// its state ('deleted' when gone), and the child's policy.
const sqlFailedParent = `SELECT d.parent_id, coalesce(p.state, 'deleted'), d.on_failure
FROM kiln_job_parent AS d LEFT JOIN kiln_job AS p ON p.id = d.parent_id
WHERE d.child_id = ?1 AND (p.state IS NULL OR p.state <> 'completed')
ORDER BY d.parent_id
LIMIT 1`

// sqlBatchCounts counts the jobs of batch ?1 by state.
const sqlBatchCounts = `SELECT j.state, count(*) FROM kiln_batch_job AS b JOIN kiln_job AS j ON j.id = b.job_id
WHERE b.batch_id = ?1 GROUP BY j.state`

// JobResolvePending releases pending jobs whose parents have all ended, as
// store.DependencyStore documents, in one write transaction.
func (s *Store) JobResolvePending(ctx context.Context, params *store.JobResolvePendingParams) ([]*kilntype.JobRow, error) {
	moved := []*kilntype.JobRow{}
	if params.Max < 1 {
		return moved, nil
	}
	now := micros(params.Now)
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		var (
			ids []int64
			err error
		)
		if len(params.Parents) > 0 {
			ids, err = queryIDs(tx.QueryContext(ctx, sqlReleasableChildren, params.Max, jsonIDs(params.Parents)))
		} else {
			ids, err = queryIDs(tx.QueryContext(ctx, sqlReleasable, params.Max))
		}
		if err != nil {
			return fmt.Errorf("select releasable: %w", err)
		}
		for _, id := range ids {
			row, err := releaseOne(ctx, tx, id, now)
			if err != nil {
				return fmt.Errorf("job %d: %w", id, err)
			}
			moved = append(moved, row)
		}
		return nil
	})
	if err != nil {
		return nil, fail("resolve pending jobs", err)
	}
	return moved, nil
}

// releaseOne moves pending job id to available or cancelled.
func releaseOne(ctx context.Context, tx *sql.Tx, id, now int64) (*kilntype.JobRow, error) {
	var (
		parent      int64
		parentState string
		policy      string
	)
	err := tx.QueryRowContext(ctx, sqlFailedParent, id).Scan(&parent, &parentState, &policy)
	failed := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if failed && policy == string(kilntype.ParentFailureCancel) {
		msg := fmt.Sprintf("parent job %d was %s", parent, parentState)
		return scanJob(tx.QueryRowContext(ctx, `UPDATE kiln_job SET state = 'cancelled', finalized_at = ?1, last_error = ?2
WHERE id = ?3 AND state = 'pending' RETURNING `+jobColumns, now, msg, id))
	}
	metadata, err := batchCallbackMetadata(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	return scanJob(tx.QueryRowContext(ctx, `UPDATE kiln_job SET state = 'available', scheduled_at = ?1,
	metadata = coalesce(json_patch(metadata, ?2), metadata)
WHERE id = ?3 AND state = 'pending' RETURNING `+jobColumns, now, metadata, id))
}

// batchCallbackMetadata returns the metadata to merge into job id when it is
// a batch callback (its batch's counts), or nil.
func batchCallbackMetadata(ctx context.Context, tx *sql.Tx, id int64) (any, error) {
	var batchID string
	err := tx.QueryRowContext(ctx, `SELECT id FROM kiln_batch WHERE callback_job_id = ?`, id).Scan(&batchID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	counts, err := batchCounts(ctx, tx, batchID)
	if err != nil {
		return nil, err
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	b, err := json.Marshal(map[string]any{
		"kiln.batch_id":        batchID,
		"kiln.batch_total":     total,
		"kiln.batch_completed": counts[kilntype.JobStateCompleted],
		"kiln.batch_failed":    counts[kilntype.JobStateCancelled] + counts[kilntype.JobStateDiscarded],
	})
	return string(b), err
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func batchCounts(ctx context.Context, q queryer, id string) (map[kilntype.JobState]int, error) {
	rows, err := q.QueryContext(ctx, sqlBatchCounts, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[kilntype.JobState]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, err
		}
		counts[kilntype.JobState(state)] = n
	}
	return counts, rows.Err()
}

// BatchGet returns batch id with its progress, or a wrapped ErrNotFound. It
// reads from the reader pool.
func (s *Store) BatchGet(ctx context.Context, params *store.BatchGetParams) (*kilntype.BatchRow, error) {
	id := params.ID
	b := &kilntype.BatchRow{ID: id}
	var created int64
	var callback sql.NullInt64
	var total int
	err := s.r.QueryRowContext(ctx, `SELECT created_at, callback_job_id, (SELECT count(*) FROM kiln_batch_job WHERE batch_id = ?1)
FROM kiln_batch WHERE id = ?1`, id).Scan(&created, &callback, &total)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fail("get batch", fmt.Errorf("batch %q: %w", id, kilntype.ErrNotFound))
	}
	if err != nil {
		return nil, fail("get batch", err)
	}
	b.CreatedAt, b.CallbackJobID, b.Total = fromMicros(created), callback.Int64, total
	if b.Counts, err = batchCounts(ctx, s.r, id); err != nil {
		return nil, fail("get batch", err)
	}
	return b, nil
}
