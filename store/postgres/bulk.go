package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

var _ store.BulkStore = (*Store)(nil)

// bulkColumns lists kiln_bulk's columns in the order scanBulk reads them.
const bulkColumns = `id, action, filter, target_queue, state, owner, first_id, last_id, cursor,
	matched, changed, skipped, batches, created_at, updated_at, finished_at, cancel_requested_at, error`

// scanBulk reads one kiln_bulk row.
func scanBulk(row pgx.Row) (*kilntype.BulkOperation, error) {
	var (
		o             kilntype.BulkOperation
		action, state string
		filter        string
	)
	if err := row.Scan(&o.ID, &action, &filter, &o.TargetQueue, &state, &o.Owner, &o.FirstID, &o.LastID, &o.Cursor,
		&o.Matched, &o.Changed, &o.Skipped, &o.Batches, &o.CreatedAt, &o.UpdatedAt, &o.FinishedAt,
		&o.CancelRequestedAt, &o.Error); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(filter), &o.Filter); err != nil {
		return nil, fmt.Errorf("bulk operation %d: filter: %w", o.ID, err)
	}
	o.Action, o.State = kilntype.BulkAction(action), kilntype.BulkState(state)
	o.CreatedAt, o.UpdatedAt = o.CreatedAt.UTC(), o.UpdatedAt.UTC()
	for _, t := range []*time.Time{o.FinishedAt, o.CancelRequestedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return &o, nil
}

// getBulk reads operation id with q, or gives kilntype.ErrNotFound.
func (s *Store) getBulk(ctx context.Context, q querier, id int64, lock bool) (*kilntype.BulkOperation, error) {
	query := `SELECT ` + bulkColumns + ` FROM {s}.kiln_bulk WHERE id = $1`
	if lock {
		query += ` FOR UPDATE`
	}
	op, err := scanBulk(q.QueryRow(ctx, s.sql(query), id))
	if isNoRows(err) {
		return nil, kilntype.ErrNotFound
	}
	return op, err
}

// JobCountMatching counts the jobs params.Filter matches in its range of
// IDs, walking them as JobList does (without a range, the planner picks
// the index), up to params.Limit.
func (s *Store) JobCountMatching(ctx context.Context, params *store.JobCountMatchingParams) (int, error) {
	lp := store.BulkListParamsFor(&params.Filter, params.After, params.UpTo, 0)
	from, _, where, args, ok := jobListWhere(lp)
	if !ok {
		return 0, nil
	}
	from, args = idRange(lp, from, args)
	query := `SELECT 1 FROM ` + from
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	if params.Limit > 0 {
		args = append(args, params.Limit)
		query += ` LIMIT $` + strconv.Itoa(len(args))
	}
	query = `SELECT count(*) FROM (` + query + `) AS m`
	var n int
	if err := s.pool.QueryRow(ctx, s.sql(query), args...).Scan(&n); err != nil {
		return 0, fail("count matching jobs", err)
	}
	return n, nil
}

// sqlBulkDeleteOld deletes up to $2 operations that ended before $1,
// oldest first. kiln_bulk holds a row per operation, a few a day: it is
// read whole, without an index.
const sqlBulkDeleteOld = `DELETE FROM {s}.kiln_bulk WHERE id IN (
	SELECT id FROM {s}.kiln_bulk WHERE finished_at < $1 ORDER BY finished_at LIMIT $2)`

// BulkDeleteOld deletes up to params.Max operations that ended before
// params.Before, oldest first.
func (s *Store) BulkDeleteOld(ctx context.Context, params *store.BulkDeleteOldParams) (int, error) {
	tag, err := s.pool.Exec(ctx, s.sql(sqlBulkDeleteOld), truncate(params.Before), max(params.Max, 1))
	if err != nil {
		return 0, fail("delete old bulk operations", err)
	}
	return int(tag.RowsAffected()), nil
}

// sqlBulkCreate inserts an operation over the IDs from the oldest job to
// the newest (two seeks of the primary key); without jobs it is completed
// at once.
const sqlBulkCreate = `WITH r AS (SELECT coalesce(min(id), 0) AS first, coalesce(max(id), 0) AS last FROM {s}.kiln_job)
INSERT INTO {s}.kiln_bulk (action, filter, target_queue, state, owner, first_id, last_id, cursor,
	created_at, updated_at, finished_at)
SELECT $1, $2, $3, CASE WHEN r.last = 0 THEN 'completed' ELSE 'running' END, $4, r.first, r.last, r.first - 1,
	$5, $5, CASE WHEN r.last = 0 THEN $5::timestamptz END
FROM r RETURNING ` + bulkColumns

// BulkCreate stores a new operation over the jobs stored now.
func (s *Store) BulkCreate(ctx context.Context, params *store.BulkCreateParams) (*kilntype.BulkOperation, error) {
	if err := store.ValidateBulkCreate(params); err != nil {
		return nil, fail("create bulk operation", err)
	}
	filter, err := json.Marshal(params.Filter)
	if err != nil {
		return nil, fail("create bulk operation", err)
	}
	op, err := scanBulk(s.pool.QueryRow(ctx, s.sql(sqlBulkCreate), string(params.Action), string(filter),
		params.TargetQueue, params.Owner, truncate(params.Now)))
	if err != nil {
		return nil, fail("create bulk operation", err)
	}
	return op, nil
}

// BulkGet returns the operation params.ID.
func (s *Store) BulkGet(ctx context.Context, params *store.BulkGetParams) (*kilntype.BulkOperation, error) {
	op, err := s.getBulk(ctx, s.pool, params.ID, false)
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
	rows, err := s.pool.Query(ctx, s.sql(`SELECT `+bulkColumns+` FROM {s}.kiln_bulk WHERE id < $1 ORDER BY id DESC LIMIT $2`),
		cursor, store.BulkListLimit(params.Limit))
	if err != nil {
		return nil, fail("list bulk operations", err)
	}
	ops, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*kilntype.BulkOperation, error) { return scanBulk(row) })
	if err != nil {
		return nil, fail("list bulk operations", err)
	}
	return ops, nil
}

// sqlBulkEnd ends operation $1 as $2 at $3.
const sqlBulkEnd = `UPDATE {s}.kiln_bulk SET state = $2, updated_at = $3, finished_at = $3
WHERE id = $1 RETURNING ` + bulkColumns

// sqlBulkAdvance records a batch of operation $1: cursor $2, $3 jobs
// matched, $4 changed, state $5 at $6 (finished when $7).
const sqlBulkAdvance = `UPDATE {s}.kiln_bulk SET cursor = $2, matched = matched + $3, changed = changed + $4,
	skipped = skipped + $3 - $4, batches = batches + 1, state = $5, updated_at = $6,
	finished_at = CASE WHEN $7 THEN $6::timestamptz END
WHERE id = $1 RETURNING ` + bulkColumns

// BulkRunBatch runs the operation's next batch in one transaction: it
// reads at most params.Window IDs of the walk JobList would follow for the
// filter, without locking them, then changes at most params.Limit jobs
// with statements that lock each row and re-check its state (a job that
// changed meanwhile is skipped), and moves the cursor. The operation's
// row is locked for the batch, so that batches and cancels of one
// operation take turns.
func (s *Store) BulkRunBatch(ctx context.Context, params *store.BulkRunBatchParams) (*store.BulkBatchResult, error) {
	res := &store.BulkBatchResult{}
	limit := max(params.Limit, 1)
	now := truncate(params.Now)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		op, err := s.getBulk(ctx, tx, params.ID, true)
		if err != nil {
			return err
		}
		res.Op = op
		if op.State != kilntype.BulkRunning || op.Owner != params.Owner {
			return nil
		}
		if op.CancelRequestedAt != nil || op.Cursor >= op.LastID {
			state := kilntype.BulkCompleted
			if op.CancelRequestedAt != nil {
				state = kilntype.BulkCancelled
			}
			res.Op, err = scanBulk(tx.QueryRow(ctx, s.sql(sqlBulkEnd), op.ID, string(state), now))
			return err
		}
		end := store.BulkWindowEnd(op, params.Window)
		ids, err := s.bulkTake(ctx, tx, op, end, limit)
		if err != nil {
			return err
		}
		cursor := end
		if len(ids) >= limit {
			cursor = ids[len(ids)-1]
		}
		changed := 0
		if len(ids) > 0 {
			if changed, err = s.bulkApply(ctx, tx, op, ids, now, res); err != nil {
				return err
			}
		}
		state := kilntype.BulkRunning
		if cursor >= op.LastID {
			state = kilntype.BulkCompleted
		}
		res.Op, err = scanBulk(tx.QueryRow(ctx, s.sql(sqlBulkAdvance), op.ID, cursor, len(ids), changed,
			string(state), now, state == kilntype.BulkCompleted))
		return err
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("run a batch of bulk operation %d", params.ID), err)
	}
	return res, nil
}

// bulkTake returns the IDs of the jobs op's filter matches after its
// cursor up to end, at most limit, in ascending order.
func (s *Store) bulkTake(ctx context.Context, tx pgx.Tx, op *kilntype.BulkOperation, end int64, limit int) ([]int64, error) {
	lp := store.BulkListParamsFor(&op.Filter, op.Cursor, end, limit)
	from, id, where, args, ok := jobListWhere(lp)
	if !ok {
		return nil, nil
	}
	from, args = idRange(lp, from, args)
	query := `SELECT ` + id + ` FROM ` + from
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY ` + id + ` LIMIT $` + strconv.Itoa(len(args)+1)
	rows, err := tx.Query(ctx, s.sql(query), append(args, limit)...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// idRange returns from, the table expression of a bulk walk of lp's IDs,
// as the rows of the primary key's range (Cursor, StopAt] read first
// (OFFSET 0 keeps the planner from merging the subquery), and args with
// the range's bounds: at most the window's rows, whatever the filters.
// An index of the filters whose order is not the ID's (the finalized jobs
// of a kind) would read and sort every job of its range at each batch. A
// tag's walk is left alone: kiln_job_tag reads that tag's jobs in ID
// order.
func idRange(lp *store.JobListParams, from string, args []any) (string, []any) {
	if lp.Tag != "" || lp.StopAt == 0 {
		return from, args
	}
	n := len(args)
	from = `(SELECT * FROM {s}.kiln_job WHERE id > $` + strconv.Itoa(n+1) + ` AND id <= $` + strconv.Itoa(n+2) +
		` OFFSET 0) AS kiln_job`
	return from, append(args, lp.Cursor, lp.StopAt)
}

// bulkLock is the old CTE of the statements of a batch that move jobs:
// it locks, in ID order, the jobs of $1 in a state of $2 that also meet
// cond, and reads what they are before (the UPDATE's initplan reads it
// whole before it updates), for their counter deltas (counted, countMoves).
// A job changed since the statement's snapshot is read again once locked,
// and left out if it no longer qualifies.
func bulkLock(cond string) string {
	return `old AS MATERIALIZED (
	SELECT id, queue, state, attempt, attempted_at, finalized_at, attempted_by FROM {s}.kiln_job
	WHERE id = ANY($1::bigint[]) AND state = ANY($2::text[]) AND ` + cond + `
	ORDER BY id FOR NO KEY UPDATE
)`
}

// bulkCounted is the counted CTE of the statements of a batch that move
// jobs: the counter deltas of the jobs that moved, which returns their id,
// queue and state, from the pairs old read.
var bulkCounted = `counted AS (
	` + countMoves("moved AS m JOIN old AS o ON o.id = m.id", "m.queue", "m.state", "o.queue", "o.state") + `
)`

// The statements of a batch: $1 the batch's IDs, $2 the states the action
// applies to.
var (
	sqlBulkCancelNow = `WITH ` + bulkLock(`state <> 'running'`) + `,
moved AS (
	UPDATE {s}.kiln_job SET state = 'cancelled', finalized_at = $3
	WHERE id = ANY(ARRAY(SELECT id FROM old)) RETURNING id, queue, state
),
` + bulkCounted + `
SELECT count(*) FROM moved`
	// sqlBulkCancelRequest asks the running jobs of $1 to cancel. It
	// locks them in ID order first, as sqlLeaseRenew does, and then finds
	// them by primary key: it changes running jobs, as a finish or a
	// renewal of the same jobs does at the same time, and a lone UPDATE
	// locks rows in the order its plan reads them (the table's, for a
	// bitmap or sequential scan), so the two could deadlock
	// (TestFinishRacesWithoutDeadlock).
	sqlBulkCancelRequest = `WITH locked AS MATERIALIZED (
	SELECT id FROM {s}.kiln_job WHERE id = ANY($1::bigint[]) AND state = 'running' ORDER BY id FOR NO KEY UPDATE
)
UPDATE {s}.kiln_job SET cancel_requested_at = coalesce(cancel_requested_at, $2)
WHERE id = ANY(ARRAY(SELECT id FROM locked)) RETURNING id`
	sqlBulkDelete = `DELETE FROM {s}.kiln_job WHERE id = ANY($1::bigint[]) AND state = ANY($2::text[])`
	sqlBulkMove   = `WITH ` + bulkLock(`queue <> $3`) + `,
moved AS (
	UPDATE {s}.kiln_job SET queue = $3
	WHERE id = ANY(ARRAY(SELECT id FROM old)) RETURNING id, queue, state
),
` + bulkCounted + `
SELECT state FROM moved`
	// sqlBulkRetryPlain retries the jobs without a unique key, keeping
	// the successful attempt of a completed one as a row (see sqlRetry).
	sqlBulkRetryPlain = `WITH ` + bulkLock(`unique_key IS NULL`) + `,
kept AS (
	INSERT INTO {s}.kiln_job_attempt (job_id, attempt, started_at, finished_at, server, outcome)
	SELECT id, attempt, attempted_at, finalized_at, attempted_by, 'succeeded' FROM old
	WHERE state = 'completed' AND attempted_by IS NOT NULL
),
moved AS (
	UPDATE {s}.kiln_job SET state = 'available', scheduled_at = $3,
		max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END,
		finalized_at = NULL, cancel_requested_at = NULL, attempted_by = NULL, output = NULL
	WHERE id = ANY(ARRAY(SELECT id FROM old)) RETURNING id, queue, state
),
` + bulkCounted + `
SELECT queue FROM moved`
	sqlBulkUnique = `SELECT id FROM {s}.kiln_job
WHERE id = ANY($1::bigint[]) AND state = ANY($2::text[]) AND unique_key IS NOT NULL ORDER BY id`
	// sqlBulkKeyHeld tells whether another unfinished job holds job $1's
	// unique key.
	sqlBulkKeyHeld = `SELECT EXISTS (SELECT 1 FROM {s}.kiln_job AS o JOIN {s}.kiln_job AS j ON o.unique_key = j.unique_key
WHERE j.id = $1 AND o.id <> j.id AND o.state NOT IN ('completed', 'cancelled', 'discarded'))`
)

// bulkApply applies op's action to the jobs ids whose state allows it, in
// tx, and returns how many it changed; it records in res the queues made
// available and the running jobs asked to cancel.
func (s *Store) bulkApply(ctx context.Context, tx pgx.Tx, op *kilntype.BulkOperation, ids []int64, now time.Time, res *store.BulkBatchResult) (int, error) {
	states := store.BulkActionStates(op.Action, op.Filter.States)
	if len(states) == 0 {
		return 0, nil
	}
	st := store.BulkStrings(states)
	switch op.Action {
	case kilntype.BulkRetry:
		return s.bulkRetry(ctx, tx, ids, st, now, res)
	case kilntype.BulkCancel:
		var cancelled int
		err := tx.QueryRow(ctx, s.sql(sqlBulkCancelNow), ids, st, now).Scan(&cancelled)
		if err != nil || !slices.Contains(states, kilntype.JobStateRunning) {
			return cancelled, err
		}
		rows, err := tx.Query(ctx, s.sql(sqlBulkCancelRequest), ids, now)
		if err != nil {
			return 0, err
		}
		running, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return 0, err
		}
		res.CancelRequested = running
		if len(running) > 0 && !s.pgBouncer {
			payloads := make([]string, len(running))
			for i, id := range running {
				payloads[i] = strconv.FormatInt(id, 10)
			}
			if _, err := tx.Exec(ctx, sqlNotifyEach, s.channel(store.TopicCancel), payloads); err != nil {
				return 0, fmt.Errorf("notify cancel requests: %w", err)
			}
		}
		return cancelled + len(running), nil
	case kilntype.BulkDelete:
		tag, err := tx.Exec(ctx, s.sql(sqlBulkDelete), ids, st)
		return int(tag.RowsAffected()), err
	case kilntype.BulkMove:
		rows, err := tx.Query(ctx, s.sql(sqlBulkMove), ids, st, op.TargetQueue)
		if err != nil {
			return 0, err
		}
		moved, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return 0, err
		}
		if slices.Contains(moved, string(kilntype.JobStateAvailable)) {
			res.Queues = []string{op.TargetQueue}
		}
		return len(moved), nil
	}
	return 0, fmt.Errorf("unknown bulk action %q", op.Action)
}

// bulkRetry retries the jobs ids whose state is one of states: those
// without a unique key in one statement, each other one alone once no
// unfinished job holds its key (so that two finished jobs of one key in a
// batch retry the first and skip the second; a concurrent enqueue of the
// key fails the batch, which its runner tries again).
func (s *Store) bulkRetry(ctx context.Context, tx pgx.Tx, ids []int64, states []string, now time.Time, res *store.BulkBatchResult) (int, error) {
	rows, err := tx.Query(ctx, s.sql(sqlBulkRetryPlain), ids, states, now)
	if err != nil {
		return 0, err
	}
	queues, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	n := len(queues)
	rows, err = tx.Query(ctx, s.sql(sqlBulkUnique), ids, states)
	if err != nil {
		return 0, err
	}
	unique, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	for _, id := range unique {
		var held bool
		if err := tx.QueryRow(ctx, s.sql(sqlBulkKeyHeld), id).Scan(&held); err != nil {
			return 0, err
		}
		if held {
			continue
		}
		job, err := scanJob(tx.QueryRow(ctx, s.sql(sqlRetry), now, id))
		if err != nil {
			return 0, err
		}
		queues = append(queues, job.Queue)
		n++
	}
	slices.Sort(queues)
	res.Queues = slices.Compact(queues)
	return n, nil
}

// sqlBulkCancel requests the cancel of operation $1 at $2; one that is
// interrupted, or running but not updated since $3, ends at once.
const sqlBulkCancel = `UPDATE {s}.kiln_bulk SET
	cancel_requested_at = coalesce(cancel_requested_at, $2),
	state = CASE WHEN state = 'interrupted' OR updated_at < $3 THEN 'cancelled' ELSE state END,
	finished_at = CASE WHEN state = 'interrupted' OR updated_at < $3 THEN $2 END,
	updated_at = CASE WHEN state = 'interrupted' OR updated_at < $3 THEN $2 ELSE updated_at END
WHERE id = $1 AND state IN ('running', 'interrupted') RETURNING ` + bulkColumns

// BulkCancel requests the cancel of params.ID.
func (s *Store) BulkCancel(ctx context.Context, params *store.BulkCancelParams) (*kilntype.BulkOperation, error) {
	op, err := scanBulk(s.pool.QueryRow(ctx, s.sql(sqlBulkCancel), params.ID, truncate(params.Now), truncate(params.StaleBefore)))
	if isNoRows(err) {
		op, err = s.getBulk(ctx, s.pool, params.ID, false)
	}
	if err != nil {
		return nil, fail(fmt.Sprintf("cancel bulk operation %d", params.ID), err)
	}
	return op, nil
}

// sqlBulkResume makes $2 the owner of operation $1, interrupted or running
// but not updated since $4, at $3.
const sqlBulkResume = `UPDATE {s}.kiln_bulk SET owner = $2, state = 'running', updated_at = $3
WHERE id = $1 AND (state = 'interrupted' OR (state = 'running' AND updated_at < $4)) RETURNING ` + bulkColumns

// BulkResume makes params.Owner the owner of an interrupted or stale
// operation.
func (s *Store) BulkResume(ctx context.Context, params *store.BulkResumeParams) (*kilntype.BulkOperation, error) {
	op, err := scanBulk(s.pool.QueryRow(ctx, s.sql(sqlBulkResume), params.ID, params.Owner,
		truncate(params.Now), truncate(params.StaleBefore)))
	if isNoRows(err) {
		if op, err = s.getBulk(ctx, s.pool, params.ID, false); err == nil {
			err = fmt.Errorf("operation is %s (owner %s): %w", op.State, op.Owner, kilntype.ErrJobState)
		}
	}
	if err != nil {
		return nil, fail(fmt.Sprintf("resume bulk operation %d", params.ID), err)
	}
	return op, nil
}

// sqlBulkRelease ends owner $2's running operation $1 as $3 with error $4
// at $5 (finished when $6).
const sqlBulkRelease = `UPDATE {s}.kiln_bulk SET state = $3, error = $4, updated_at = $5,
	finished_at = CASE WHEN $6 THEN $5::timestamptz END
WHERE id = $1 AND owner = $2 AND state = 'running' RETURNING ` + bulkColumns

// BulkRelease ends params.Owner's running operation as params.State.
func (s *Store) BulkRelease(ctx context.Context, params *store.BulkReleaseParams) (*kilntype.BulkOperation, error) {
	if params.State != kilntype.BulkInterrupted && params.State != kilntype.BulkFailed {
		return nil, fail("release bulk operation", fmt.Errorf("state %q: want interrupted or failed", params.State))
	}
	op, err := scanBulk(s.pool.QueryRow(ctx, s.sql(sqlBulkRelease), params.ID, params.Owner, string(params.State),
		store.CleanText(params.Error), truncate(params.Now), params.State == kilntype.BulkFailed))
	if isNoRows(err) {
		op, err = s.getBulk(ctx, s.pool, params.ID, false)
	}
	if err != nil {
		return nil, fail(fmt.Sprintf("release bulk operation %d", params.ID), err)
	}
	return op, nil
}
