package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

var _ store.BulkStore = (*Store)(nil)

// bulkColumns lists kiln_bulk's columns in the order scanBulk reads them.
const bulkColumns = `id, action, filter, target_queue, state, owner, first_id, last_id, cursor,
	matched, changed, skipped, batches, created_at, updated_at, finished_at, cancel_requested_at, error`

// scanBulk reads one kiln_bulk row.
func scanBulk(sc scanner) (*kilntype.BulkOperation, error) {
	var (
		o                  kilntype.BulkOperation
		action, state      string
		filter             []byte
		created, updated   int64
		finished, cancelAt sql.NullInt64
	)
	if err := sc.Scan(&o.ID, &action, &filter, &o.TargetQueue, &state, &o.Owner, &o.FirstID, &o.LastID, &o.Cursor,
		&o.Matched, &o.Changed, &o.Skipped, &o.Batches, &created, &updated, &finished, &cancelAt, &o.Error); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(filter, &o.Filter); err != nil {
		return nil, fmt.Errorf("bulk operation %d: filter: %w", o.ID, err)
	}
	o.Action, o.State = kilntype.BulkAction(action), kilntype.BulkState(state)
	o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
	o.FinishedAt, o.CancelRequestedAt = fromNullMicros(finished), fromNullMicros(cancelAt)
	return &o, nil
}

// rangeWalk is how bulk operations read the jobs of params in a bounded
// range of IDs: kiln_job_tag's entries of a tag, kiln_job_state_inflight
// for in-flight states, else the primary key's range (at most the window's
// rows). An index whose order is not the ID's (the finalized or available
// jobs of a kind) would read, and sort, every job of the index's range at
// each batch: a bulk retry of 100,000 discarded jobs of one kind took a
// minute so, with batches growing slower as they went.
func rangeWalk(params *store.JobListParams) listWalk {
	switch {
	case params.Tag != "":
		return listWalk{}
	case params.States != nil && store.InflightStates(params.States):
		return walkInflight
	}
	return walkTable
}

// countWalk is how JobCountMatching reads the jobs of params without a
// range of IDs: the index of its states when they share one (an
// in-flight state's, kiln_job_finalized_kind for finished states, which
// also holds the kind, kiln_job_claim_untagged and kiln_job_claim_fair
// for available jobs: walkAvailable), else
// SQLite's choice. Counting in ID order (rangeWalk) would read every job
// of the table to find those of a kind.
func countWalk(params *store.JobListParams) listWalk {
	if params.Tag != "" || len(params.States) == 0 {
		return listWalk{}
	}
	if store.InflightStates(params.States) {
		return walkInflight
	}
	var walk listWalk
	for _, st := range params.States {
		w := listWalk{}
		switch st {
		case kilntype.JobStateAvailable:
			w = walkAvailable
		case kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded:
			w = walkFinalized
		}
		if w == (listWalk{}) || (walk != (listWalk{}) && walk != w) {
			return listWalk{}
		}
		walk = w
	}
	return walk
}

// jobCountQuery returns JobCountMatching's statement for params and its
// arguments, or false when an empty filter matches nothing.
func jobCountQuery(params *store.JobCountMatchingParams) (string, []any, bool) {
	lp := store.BulkListParamsFor(&params.Filter, params.After, params.UpTo, 0)
	walk := rangeWalk(lp)
	if params.After == 0 && params.UpTo == 0 {
		walk = countWalk(lp)
	}
	from, _, where, args, ok := jobListWhere(lp, walk)
	if !ok {
		return "", nil, false
	}
	query := `SELECT 1 FROM ` + from
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	if params.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, params.Limit)
	}
	return `SELECT count(*) FROM (` + query + `)`, args, true
}

// JobCountMatching counts the jobs params.Filter matches in its range of
// IDs, walking them as JobList does (or, without a range, reading the
// index of countWalk), up to params.Limit, from the reader pool.
func (s *Store) JobCountMatching(ctx context.Context, params *store.JobCountMatchingParams) (int, error) {
	query, args, ok := jobCountQuery(params)
	if !ok {
		return 0, nil
	}
	var n int
	if err := s.r.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, fail("count matching jobs", err)
	}
	return n, nil
}

// BulkCreate stores a new operation over the jobs stored now.
func (s *Store) BulkCreate(ctx context.Context, params *store.BulkCreateParams) (*kilntype.BulkOperation, error) {
	if err := store.ValidateBulkCreate(params); err != nil {
		return nil, fail("create bulk operation", err)
	}
	filter, err := json.Marshal(params.Filter)
	if err != nil {
		return nil, fail("create bulk operation", err)
	}
	var op *kilntype.BulkOperation
	err = s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		// Both ends of the primary key: two seeks.
		var first, last int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM kiln_job`).
			Scan(&first, &last); err != nil {
			return err
		}
		state, finished := kilntype.BulkRunning, any(nil)
		if last == 0 {
			state, finished = kilntype.BulkCompleted, micros(params.Now)
		}
		op, err = scanBulk(tx.QueryRowContext(ctx, `INSERT INTO kiln_bulk
	(action, filter, target_queue, state, owner, first_id, last_id, cursor, created_at, updated_at, finished_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6 - 1, ?8, ?8, ?9) RETURNING `+bulkColumns,
			string(params.Action), string(filter), params.TargetQueue, string(state), params.Owner, first, last,
			micros(params.Now), finished))
		return err
	})
	if err != nil {
		return nil, fail("create bulk operation", err)
	}
	return op, nil
}

// BulkGet returns the operation params.ID.
func (s *Store) BulkGet(ctx context.Context, params *store.BulkGetParams) (*kilntype.BulkOperation, error) {
	op, err := scanBulk(s.r.QueryRowContext(ctx, `SELECT `+bulkColumns+` FROM kiln_bulk WHERE id = ?`, params.ID))
	if errors.Is(err, sql.ErrNoRows) {
		err = kilntype.ErrNotFound
	}
	if err != nil {
		return nil, fail(fmt.Sprintf("get bulk operation %d", params.ID), err)
	}
	return op, nil
}

// BulkList returns the newest operations first.
func (s *Store) BulkList(ctx context.Context, params *store.BulkListParams) ([]*kilntype.BulkOperation, error) {
	cursor := params.Cursor
	if cursor <= 0 {
		cursor = 1<<63 - 1
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+bulkColumns+` FROM kiln_bulk WHERE id < ? ORDER BY id DESC LIMIT ?`,
		cursor, store.BulkListLimit(params.Limit))
	if err != nil {
		return nil, fail("list bulk operations", err)
	}
	defer rows.Close()
	ops := []*kilntype.BulkOperation{}
	for rows.Next() {
		op, err := scanBulk(rows)
		if err != nil {
			return nil, fail("list bulk operations", err)
		}
		ops = append(ops, op)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list bulk operations", err)
	}
	return ops, nil
}

// BulkDeleteOld deletes up to params.Max operations that ended before
// params.Before, oldest first. kiln_bulk holds a row per operation, a few
// a day: it is read whole, without an index.
func (s *Store) BulkDeleteOld(ctx context.Context, params *store.BulkDeleteOldParams) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM kiln_bulk WHERE id IN (
	SELECT id FROM kiln_bulk WHERE finished_at < ?1 ORDER BY finished_at LIMIT ?2)`, micros(params.Before), max(params.Max, 1))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fail("delete old bulk operations", err)
	}
	return int(n), nil
}

// BulkRunBatch runs the operation's next batch in one writer transaction:
// it reads at most params.Window IDs of the walk JobList would follow
// for the filter, changes at most params.Limit jobs, and moves the cursor.
func (s *Store) BulkRunBatch(ctx context.Context, params *store.BulkRunBatchParams) (*store.BulkBatchResult, error) {
	res := &store.BulkBatchResult{}
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		op, err := scanBulk(tx.QueryRowContext(ctx, `SELECT `+bulkColumns+` FROM kiln_bulk WHERE id = ?`, params.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return kilntype.ErrNotFound
		}
		if err != nil {
			return err
		}
		res.Op = op
		if op.State != kilntype.BulkRunning || op.Owner != params.Owner {
			return nil
		}
		now := micros(params.Now)
		if op.CancelRequestedAt != nil || op.Cursor >= op.LastID {
			state := kilntype.BulkCompleted
			if op.CancelRequestedAt != nil {
				state = kilntype.BulkCancelled
			}
			res.Op, err = scanBulk(tx.QueryRowContext(ctx, `UPDATE kiln_bulk SET state = ?2, updated_at = ?3, finished_at = ?3
WHERE id = ?1 RETURNING `+bulkColumns, op.ID, string(state), now))
			return err
		}
		end := store.BulkWindowEnd(op, params.Window)
		ids, err := s.bulkTake(ctx, tx, op, end, max(params.Limit, 1))
		if err != nil {
			return err
		}
		cursor := end
		if len(ids) >= max(params.Limit, 1) {
			cursor = ids[len(ids)-1]
		}
		changed := 0
		if len(ids) > 0 {
			if changed, err = s.bulkApply(ctx, tx, op, ids, now, res); err != nil {
				return err
			}
		}
		state, finished := kilntype.BulkRunning, any(nil)
		if cursor >= op.LastID {
			state, finished = kilntype.BulkCompleted, now
		}
		res.Op, err = scanBulk(tx.QueryRowContext(ctx, `UPDATE kiln_bulk SET cursor = ?2, matched = matched + ?3,
	changed = changed + ?4, skipped = skipped + ?3 - ?4, batches = batches + 1, state = ?5, updated_at = ?6,
	finished_at = ?7
WHERE id = ?1 RETURNING `+bulkColumns, op.ID, cursor, len(ids), changed, string(state), now, finished))
		return err
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("run a batch of bulk operation %d", params.ID), err)
	}
	return res, nil
}

// bulkTake returns the IDs of the jobs op's filter matches after its
// cursor up to end, at most limit, in ascending order.
func (s *Store) bulkTake(ctx context.Context, tx *sql.Tx, op *kilntype.BulkOperation, end int64, limit int) ([]int64, error) {
	lp := store.BulkListParamsFor(&op.Filter, op.Cursor, end, limit)
	from, id, where, args, ok := jobListWhere(lp, rangeWalk(lp))
	if !ok {
		return nil, nil
	}
	query := `SELECT ` + id + ` FROM ` + from
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY ` + id + ` LIMIT ?`
	return queryIDs(tx.QueryContext(ctx, query, append(args, limit)...))
}

// bulkApply applies op's action to the jobs ids whose state allows it, in
// tx, and returns how many it changed; it records in res the queues made
// available and the running jobs asked to cancel.
func (s *Store) bulkApply(ctx context.Context, tx *sql.Tx, op *kilntype.BulkOperation, ids []int64, now int64, res *store.BulkBatchResult) (int, error) {
	idsJSON, err := jsonText(ids)
	if err != nil {
		return 0, err
	}
	states := store.BulkActionStates(op.Action, op.Filter.States)
	if len(states) == 0 {
		return 0, nil
	}
	statesJSON, err := jsonText(store.BulkStrings(states))
	if err != nil {
		return 0, err
	}
	const inBatch = `id IN (SELECT value FROM json_each(?1)) AND state IN (SELECT value FROM json_each(?2))`
	switch op.Action {
	case kilntype.BulkRetry:
		return s.bulkRetry(ctx, tx, idsJSON, statesJSON, now, res)
	case kilntype.BulkCancel:
		n, err := execCount(tx.ExecContext(ctx, `UPDATE kiln_job SET state = 'cancelled', finalized_at = ?3
WHERE `+inBatch+` AND state <> 'running'`, idsJSON, statesJSON, now))
		if err != nil || !slices.Contains(states, kilntype.JobStateRunning) {
			return n, err
		}
		running, err := queryIDs(tx.QueryContext(ctx, `UPDATE kiln_job SET cancel_requested_at = coalesce(cancel_requested_at, ?2)
WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'running' RETURNING id`, idsJSON, now))
		res.CancelRequested = running
		return n + len(running), err
	case kilntype.BulkDelete:
		return execCount(tx.ExecContext(ctx, `DELETE FROM kiln_job WHERE `+inBatch, idsJSON, statesJSON))
	case kilntype.BulkMove:
		rows, err := tx.QueryContext(ctx, `UPDATE kiln_job SET queue = ?3
WHERE `+inBatch+` AND queue <> ?3 RETURNING state`, idsJSON, statesJSON, op.TargetQueue)
		if err != nil {
			return 0, err
		}
		defer rows.Close()
		n, due := 0, false
		for rows.Next() {
			var st string
			if err := rows.Scan(&st); err != nil {
				return 0, err
			}
			n++
			due = due || st == string(kilntype.JobStateAvailable)
		}
		if due {
			res.Queues = []string{op.TargetQueue}
		}
		return n, rows.Err()
	}
	return 0, fmt.Errorf("unknown bulk action %q", op.Action)
}

// bulkRetry retries the jobs ids whose state is one of statesJSON: those
// without a unique key in one statement, each other one alone once no
// unfinished job holds its key (so that two finished jobs of one key in a
// batch retry the first and skip the second).
func (s *Store) bulkRetry(ctx context.Context, tx *sql.Tx, idsJSON, statesJSON string, now int64, res *store.BulkBatchResult) (int, error) {
	const plain = `id IN (SELECT value FROM json_each(?1)) AND state IN (SELECT value FROM json_each(?2)) AND unique_key IS NULL`
	if _, err := tx.ExecContext(ctx, `INSERT INTO kiln_job_attempt (job_id, attempt, started_at, finished_at, server, outcome)
SELECT id, attempt, attempted_at, finalized_at, attempted_by, 'succeeded' FROM kiln_job
WHERE `+plain+` AND state = 'completed' AND attempted_by IS NOT NULL`, idsJSON, statesJSON); err != nil {
		return 0, err
	}
	queues := map[string]bool{}
	rows, err := tx.QueryContext(ctx, `UPDATE kiln_job SET state = 'available', scheduled_at = ?3,
	max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END,
	finalized_at = NULL, cancel_requested_at = NULL, attempted_by = NULL, output = NULL
WHERE `+plain+` RETURNING queue`, idsJSON, statesJSON, now)
	if err != nil {
		return 0, err
	}
	n, err := countQueues(rows, queues)
	if err != nil {
		return 0, err
	}
	unique, err := queryIDs(tx.QueryContext(ctx, `SELECT id FROM kiln_job
WHERE id IN (SELECT value FROM json_each(?1)) AND state IN (SELECT value FROM json_each(?2)) AND unique_key IS NOT NULL
ORDER BY id`, idsJSON, statesJSON))
	if err != nil {
		return 0, err
	}
	for _, id := range unique {
		var held bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM kiln_job AS o, kiln_job AS j
WHERE j.id = ?1 AND o.unique_key = j.unique_key AND o.id <> j.id
	AND o.state NOT IN ('completed', 'cancelled', 'discarded'))`, id).Scan(&held); err != nil {
			return 0, err
		}
		if held {
			continue
		}
		if _, err := tx.ExecContext(ctx, sqlKeepSuccessfulAttempt, id); err != nil {
			return 0, err
		}
		var queue string
		if err := tx.QueryRowContext(ctx, `UPDATE kiln_job SET state = 'available', scheduled_at = ?1,
	max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END,
	finalized_at = NULL, cancel_requested_at = NULL, attempted_by = NULL, output = NULL
WHERE id = ?2 RETURNING queue`, now, id).Scan(&queue); err != nil {
			return 0, err
		}
		queues[queue] = true
		n++
	}
	for q := range queues {
		res.Queues = append(res.Queues, q)
	}
	slices.Sort(res.Queues)
	return n, nil
}

// countQueues counts rows of one queue column, adding each queue to
// queues, and closes rows.
func countQueues(rows *sql.Rows, queues map[string]bool) (int, error) {
	defer rows.Close()
	n := 0
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			return 0, err
		}
		queues[q] = true
		n++
	}
	return n, rows.Err()
}

// jsonText returns v as JSON text: SQLite reads a BLOB argument of
// json_each as JSONB.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// execCount returns the rows an Exec affected.
func execCount(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// BulkCancel requests the cancel of params.ID.
func (s *Store) BulkCancel(ctx context.Context, params *store.BulkCancelParams) (*kilntype.BulkOperation, error) {
	var op *kilntype.BulkOperation
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		var err error
		op, err = scanBulk(tx.QueryRowContext(ctx, `UPDATE kiln_bulk SET
	cancel_requested_at = coalesce(cancel_requested_at, ?2),
	state = CASE WHEN state = 'interrupted' OR updated_at < ?3 THEN 'cancelled' ELSE state END,
	finished_at = CASE WHEN state = 'interrupted' OR updated_at < ?3 THEN ?2 END,
	updated_at = CASE WHEN state = 'interrupted' OR updated_at < ?3 THEN ?2 ELSE updated_at END
WHERE id = ?1 AND state IN ('running', 'interrupted') RETURNING `+bulkColumns,
			params.ID, micros(params.Now), micros(params.StaleBefore)))
		if errors.Is(err, sql.ErrNoRows) {
			op, err = scanBulk(tx.QueryRowContext(ctx, `SELECT `+bulkColumns+` FROM kiln_bulk WHERE id = ?`, params.ID))
			if errors.Is(err, sql.ErrNoRows) {
				return kilntype.ErrNotFound
			}
		}
		return err
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("cancel bulk operation %d", params.ID), err)
	}
	return op, nil
}

// BulkResume makes params.Owner the owner of an interrupted or stale
// operation.
func (s *Store) BulkResume(ctx context.Context, params *store.BulkResumeParams) (*kilntype.BulkOperation, error) {
	var op *kilntype.BulkOperation
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		var err error
		op, err = scanBulk(tx.QueryRowContext(ctx, `UPDATE kiln_bulk SET owner = ?2, state = 'running', updated_at = ?3
WHERE id = ?1 AND (state = 'interrupted' OR (state = 'running' AND updated_at < ?4)) RETURNING `+bulkColumns,
			params.ID, params.Owner, micros(params.Now), micros(params.StaleBefore)))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		op, err = scanBulk(tx.QueryRowContext(ctx, `SELECT `+bulkColumns+` FROM kiln_bulk WHERE id = ?`, params.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return kilntype.ErrNotFound
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("operation is %s (owner %s): %w", op.State, op.Owner, kilntype.ErrJobState)
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("resume bulk operation %d", params.ID), err)
	}
	return op, nil
}

// BulkRelease ends params.Owner's running operation as params.State.
func (s *Store) BulkRelease(ctx context.Context, params *store.BulkReleaseParams) (*kilntype.BulkOperation, error) {
	if params.State != kilntype.BulkInterrupted && params.State != kilntype.BulkFailed {
		return nil, fail("release bulk operation", fmt.Errorf("state %q: want interrupted or failed", params.State))
	}
	var op *kilntype.BulkOperation
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		var finished any
		if params.State == kilntype.BulkFailed {
			finished = micros(params.Now)
		}
		var err error
		op, err = scanBulk(tx.QueryRowContext(ctx, `UPDATE kiln_bulk SET state = ?3, error = ?4, updated_at = ?5, finished_at = ?6
WHERE id = ?1 AND owner = ?2 AND state = 'running' RETURNING `+bulkColumns,
			params.ID, params.Owner, string(params.State), store.CleanText(params.Error), micros(params.Now), finished))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		op, err = scanBulk(tx.QueryRowContext(ctx, `SELECT `+bulkColumns+` FROM kiln_bulk WHERE id = ?`, params.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return kilntype.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("release bulk operation %d", params.ID), err)
	}
	return op, nil
}
