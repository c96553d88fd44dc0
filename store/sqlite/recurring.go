package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// recurringColumns lists kiln_recurring's columns in the order
// scanRecurring reads them and sqlRecurringUpsert writes them.
const recurringColumns = `id, schedule, time_zone, kind, args, queue, priority, max_attempts,
	tags, metadata, overlap, misfire, misfire_max, paused, next_run_at, last_run_at,
	last_job_id, last_error, created_at, updated_at, partition_key`

// sqlRecurringUpsert creates entry ?1 from ?1 to ?21 (recurringColumns), or
// updates its definition; the update keeps paused, last_run_at,
// last_job_id, last_error and created_at, and next_run_at unless ?22 is 1.
const sqlRecurringUpsert = `INSERT INTO kiln_recurring (` + recurringColumns + `)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)
ON CONFLICT (id) DO UPDATE SET
	schedule = excluded.schedule, time_zone = excluded.time_zone, kind = excluded.kind,
	args = excluded.args, queue = excluded.queue, priority = excluded.priority,
	max_attempts = excluded.max_attempts, tags = excluded.tags, metadata = excluded.metadata,
	overlap = excluded.overlap, misfire = excluded.misfire, misfire_max = excluded.misfire_max,
	partition_key = excluded.partition_key,
	next_run_at = CASE WHEN ?22 = 1 THEN excluded.next_run_at ELSE kiln_recurring.next_run_at END,
	updated_at = excluded.updated_at
RETURNING ` + recurringColumns

// sqlRecurringGet returns one entry.
const sqlRecurringGet = `SELECT ` + recurringColumns + ` FROM kiln_recurring WHERE id = ?1`

// sqlRecurringExists returns a row when entry ?1 exists.
const sqlRecurringExists = `SELECT 1 FROM kiln_recurring WHERE id = ?1`

// sqlRecurringDelete deletes entry ?1 (its occurrence rows go with it: ON
// DELETE CASCADE) and returns it as it was.
const sqlRecurringDelete = `DELETE FROM kiln_recurring WHERE id = ?1 RETURNING ` + recurringColumns

// sqlRecurringDeleteExcept deletes the entries whose ID is not in the JSON
// array ?1 and returns their IDs.
const sqlRecurringDeleteExcept = `DELETE FROM kiln_recurring
WHERE id NOT IN (SELECT value FROM json_each(?1))
RETURNING id`

// sqlRecurringSetPaused sets entry ?1's paused to ?2 at ?4, unless it is
// already; resuming sets next_run_at to ?3. It returns the entry when it
// changed it.
const sqlRecurringSetPaused = `UPDATE kiln_recurring SET paused = ?2,
	next_run_at = CASE WHEN ?2 = 0 THEN ?3 ELSE next_run_at END,
	updated_at = ?4
WHERE id = ?1 AND paused <> ?2
RETURNING ` + recurringColumns

// sqlRecurringSetError sets entry ?1's last_error to ?2 at ?3.
const sqlRecurringSetError = `UPDATE kiln_recurring SET last_error = ?2, updated_at = ?3 WHERE id = ?1`

// sqlRecurringNextDue returns the earliest next_run_at of the entries that
// are not paused (NULL when there is none): one seek of kiln_recurring_due.
const sqlRecurringNextDue = `SELECT min(next_run_at) FROM kiln_recurring WHERE paused = 0`

// sqlRecurringListDue returns up to ?2 entries that are not paused and due
// at ?1, earliest first, from kiln_recurring_due.
const sqlRecurringListDue = `SELECT ` + recurringColumns + ` FROM kiln_recurring
WHERE paused = 0 AND next_run_at <= ?1
ORDER BY next_run_at, id
LIMIT ?2`

// sqlOccurrenceExists returns a row when entry ?1 has an occurrence at ?2.
const sqlOccurrenceExists = `SELECT 1 FROM kiln_recurring_occurrence
WHERE recurring_id = ?1 AND occurrence_at = ?2`

// overlapWindow is how many of an entry's newest occurrences the overlap
// check looks at.
const overlapWindow = 8

// sqlOccurrenceOverlap counts the jobs of entry ?1's newest occurrences
// (overlapWindow of them) that are not finalized, and among them those
// that are not running, and returns the ID of one that is running (0:
// none). A deleted job is not counted (the inner join drops it). CROSS
// JOIN keeps the occurrences as the outer loop: a handful of rowid lookups
// in kiln_job.
var sqlOccurrenceOverlap = fmt.Sprintf(`SELECT count(*), coalesce(sum(kiln_job.state <> 'running'), 0),
	coalesce(max(CASE WHEN kiln_job.state = 'running' THEN kiln_job.id END), 0)
FROM (SELECT job_id FROM kiln_recurring_occurrence
	WHERE recurring_id = ?1 ORDER BY occurrence_at DESC LIMIT %d) AS newest
CROSS JOIN kiln_job ON kiln_job.id = newest.job_id
WHERE kiln_job.state IN ('pending', 'scheduled', 'available', 'running', 'retryable')`, overlapWindow)

// sqlOccurrenceWait makes job ?1 a continuation of job ?2 that runs
// whatever ?2's outcome (RecurringEnqueue's waiting jobs).
const sqlOccurrenceWait = `INSERT INTO kiln_job_parent (child_id, parent_id, on_failure) VALUES (?1, ?2, 'run')`

// sqlOccurrenceInsert records that entry ?1's occurrence at ?2 enqueued job
// ?3. It has no ON CONFLICT: RecurringEnqueue checked, under the write lock,
// that the row is new, and a conflict would fail the whole call rather than
// let a second job through.
const sqlOccurrenceInsert = `INSERT INTO kiln_recurring_occurrence (recurring_id, occurrence_at, job_id)
VALUES (?1, ?2, ?3)`

// sqlRecurringEnqueued ends a RecurringEnqueue of entry ?1 at ?6: the
// latest inserted occurrence ?2 and its job ?3 (NULL: none inserted) become
// last_run_at and last_job_id, next_run_at moves to ?4 if it still is ?5
// (?4 NULL: it stays), and last_error becomes ?7 (NULL: it stays).
// updated_at becomes ?6 only when something changed.
const sqlRecurringEnqueued = `UPDATE kiln_recurring SET
	last_run_at = coalesce(?2, last_run_at),
	last_job_id = coalesce(?3, last_job_id),
	next_run_at = CASE WHEN ?4 IS NOT NULL AND next_run_at = ?5 THEN ?4 ELSE next_run_at END,
	last_error = coalesce(?7, last_error),
	updated_at = ?6
WHERE id = ?1 AND (?2 IS NOT NULL OR (?4 IS NOT NULL AND next_run_at = ?5) OR last_error <> ?7)`

// sqlOccurrenceList returns entry ?1's newest ?2 occurrences with the state
// of their jobs (” when the job is gone), the start of their first attempt
// (the oldest attempt row, an index seek of kiln_job_attempt_job; without
// one, a job completed at its first attempt, its attempted_at), of their
// latest attempt, their end and attempt count.
const sqlOccurrenceList = `SELECT kiln_recurring_occurrence.occurrence_at, kiln_recurring_occurrence.job_id,
	coalesce(kiln_job.state, ''),
	coalesce((SELECT kiln_job_attempt.started_at FROM kiln_job_attempt
		WHERE kiln_job_attempt.job_id = kiln_recurring_occurrence.job_id
		ORDER BY kiln_job_attempt.id LIMIT 1), kiln_job.attempted_at),
	kiln_job.attempted_at, kiln_job.finalized_at, coalesce(kiln_job.attempt, 0)
FROM kiln_recurring_occurrence
LEFT JOIN kiln_job ON kiln_job.id = kiln_recurring_occurrence.job_id
WHERE kiln_recurring_occurrence.recurring_id = ?1
ORDER BY kiln_recurring_occurrence.occurrence_at DESC
LIMIT ?2`

// RecurringUpsert creates the entry params.Row, or updates the entry with
// its ID, and reports whether it created it. A new entry is stored as the
// row gives it (Paused, LastRunAt, LastJobID and LastError included), with
// CreatedAt and UpdatedAt params.Now. An update replaces the definition
// (schedule, time zone, job template, policies) and sets UpdatedAt to
// params.Now; it keeps Paused, LastRunAt, LastJobID, LastError and
// CreatedAt, and NextRunAt unless params.ResetNextRun. It returns the entry
// as stored. A row without ID or with an unknown overlap or misfire policy
// is refused; nil Tags are stored as [] and nil Metadata as {}.
func (s *Store) RecurringUpsert(ctx context.Context, params *store.RecurringUpsertParams) (*kilntype.RecurringRow, bool, error) {
	if params == nil || params.Row == nil {
		return nil, false, fail("upsert recurring entry", errors.New("no row"))
	}
	r := params.Row
	what := fmt.Sprintf("upsert recurring entry %q", r.ID)
	args, err := upsertArgs(params)
	if err != nil {
		return nil, false, fail(what, err)
	}
	var (
		row     *kilntype.RecurringRow
		created bool
	)
	err = s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		var err error
		if created, err = recurringMissing(ctx, tx, st, r.ID); err != nil {
			return err
		}
		row, err = scanRecurring(tx.StmtContext(ctx, st.recurringUpsert).QueryRowContext(ctx, args...))
		return err
	})
	if err != nil {
		return nil, false, fail(what, err)
	}
	return row, created, nil
}

// upsertArgs returns the arguments of sqlRecurringUpsert for params.
func upsertArgs(params *store.RecurringUpsertParams) ([]any, error) {
	r := params.Row
	if err := store.ValidateRecurringRow(r); err != nil {
		return nil, err
	}
	tags, err := encodeTags(r.Tags)
	if err != nil {
		return nil, err
	}
	metadata := "{}"
	if r.Metadata != nil {
		metadata = string(r.Metadata)
	}
	paused, reset := 0, 0
	if r.Paused {
		paused = 1
	}
	if params.ResetNextRun {
		reset = 1
	}
	var lastJob any
	if r.LastJobID != 0 {
		lastJob = r.LastJobID
	}
	now := micros(params.Now)
	return []any{r.ID, r.Schedule, r.TimeZone, r.Kind, string(r.Args), r.Queue, int64(r.Priority),
		int64(r.MaxAttempts), tags, metadata, string(r.Overlap), string(r.Misfire),
		int64(r.MisfireMax), paused, micros(r.NextRunAt), nullMicros(r.LastRunAt), lastJob,
		r.LastError, now, now, r.Partition, reset}, nil
}

// recurringMissing reports, inside a writer transaction, whether entry id
// does not exist.
func recurringMissing(ctx context.Context, tx *sql.Tx, st *stmts, id string) (bool, error) {
	var one int
	err := tx.StmtContext(ctx, st.recurringExists).QueryRowContext(ctx, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	return false, err
}

// RecurringGet returns the entry id, or a wrapped kilntype.ErrNotFound. It
// reads from the reader pool.
func (s *Store) RecurringGet(ctx context.Context, params *store.RecurringGetParams) (*kilntype.RecurringRow, error) {
	id := params.ID
	row, err := scanRecurring(s.r.QueryRowContext(ctx, sqlRecurringGet, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = kilntype.ErrNotFound
	}
	if err != nil {
		return nil, fail(fmt.Sprintf("get recurring entry %q", id), err)
	}
	return row, nil
}

// RecurringList returns the entries ordered by ID (bytewise), starting
// after the ID params.Cursor ("": from the first). It returns at most
// params.Limit entries: 0 or less means store.DefaultListLimit, more than
// store.MaxListLimit is cut to it. It reads from the reader pool.
func (s *Store) RecurringList(ctx context.Context, params *store.RecurringListParams) ([]*kilntype.RecurringRow, error) {
	query := `SELECT ` + recurringColumns + ` FROM kiln_recurring`
	var args []any
	if params.Cursor != "" {
		query += ` WHERE id > ?`
		args = append(args, params.Cursor)
	}
	query += ` ORDER BY id LIMIT ?`
	args = append(args, listLimit(params.Limit))
	rows, err := scanRecurrings(s.r.QueryContext(ctx, query, args...))
	if err != nil {
		return nil, fail("list recurring entries", err)
	}
	return rows, nil
}

// listLimit applies store.DefaultListLimit and store.MaxListLimit to limit.
func listLimit(limit int) int {
	switch {
	case limit <= 0:
		return store.DefaultListLimit
	case limit > store.MaxListLimit:
		return store.MaxListLimit
	}
	return limit
}

// RecurringDelete deletes the entry id and its occurrence rows (the jobs
// it enqueued stay) and returns it as it was, or a wrapped
// kilntype.ErrNotFound.
func (s *Store) RecurringDelete(ctx context.Context, params *store.RecurringDeleteParams) (*kilntype.RecurringRow, error) {
	id := params.ID
	var row *kilntype.RecurringRow
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		var err error
		row, err = scanRecurring(tx.StmtContext(ctx, st.recurringDelete).QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
			return kilntype.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("delete recurring entry %q", id), err)
	}
	return row, nil
}

// RecurringDeleteExcept deletes, with their occurrence rows, the entries
// whose ID is not in keep (an empty keep deletes them all) and returns the
// deleted IDs, sorted; never nil.
func (s *Store) RecurringDeleteExcept(ctx context.Context, params *store.RecurringDeleteExceptParams) ([]string, error) {
	keep := params.Keep
	if keep == nil {
		keep = []string{}
	}
	b, err := json.Marshal(keep)
	if err != nil {
		return nil, fail("prune recurring entries", err)
	}
	deleted := []string{}
	err = s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		rows, err := tx.StmtContext(ctx, st.recurringDeleteExcept).QueryContext(ctx, string(b))
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			deleted = append(deleted, id)
		}
		return errors.Join(rows.Err(), rows.Close())
	})
	if err != nil {
		return nil, fail("prune recurring entries", err)
	}
	slices.Sort(deleted)
	return deleted, nil
}

// RecurringSetPaused pauses or resumes the entry params.ID and returns it
// after the change, or a wrapped kilntype.ErrNotFound. Pausing keeps
// NextRunAt; resuming sets it to params.NextRunAt. Both set UpdatedAt to
// params.Now. An entry that already is as asked is returned unchanged: in
// particular, resuming an entry that is not paused keeps its NextRunAt.
func (s *Store) RecurringSetPaused(ctx context.Context, params *store.RecurringSetPausedParams) (*kilntype.RecurringRow, error) {
	verb := "resume"
	paused := 0
	if params.Paused {
		verb, paused = "pause", 1
	}
	var row *kilntype.RecurringRow
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		var err error
		row, err = scanRecurring(tx.StmtContext(ctx, st.recurringSetPaused).QueryRowContext(ctx,
			params.ID, paused, micros(params.NextRunAt), micros(params.Now)))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Unknown, or already as asked.
		row, err = scanRecurring(tx.StmtContext(ctx, st.recurringGet).QueryRowContext(ctx, params.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return kilntype.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("%s recurring entry %q", verb, params.ID), err)
	}
	return row, nil
}

// RecurringSetError sets the entry's LastError to message ("" clears it)
// and its UpdatedAt to now. An unknown ID gives a wrapped
// kilntype.ErrNotFound.
func (s *Store) RecurringSetError(ctx context.Context, params *store.RecurringSetErrorParams) error {
	id, message, now := params.ID, params.Message, params.Now
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		res, err := tx.StmtContext(ctx, st.recurringSetError).ExecContext(ctx, id, message, micros(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			err = kilntype.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fail(fmt.Sprintf("set error of recurring entry %q", id), err)
	}
	return nil
}

// RecurringNextDue returns the earliest NextRunAt of the entries that are
// not paused, and false when there is none. It reads from the reader pool.
func (s *Store) RecurringNextDue(ctx context.Context) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := s.r.QueryRowContext(ctx, sqlRecurringNextDue).Scan(&next); err != nil {
		return time.Time{}, false, fail("next due recurring entry", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(next.Int64), true, nil
}

// RecurringListDue returns up to params.Max entries that are not paused and
// whose NextRunAt <= params.Now, earliest first (ties by ID). A Max below 1
// returns none. It reads from the reader pool.
func (s *Store) RecurringListDue(ctx context.Context, params *store.RecurringListDueParams) ([]*kilntype.RecurringRow, error) {
	if params.Max < 1 {
		return []*kilntype.RecurringRow{}, nil
	}
	rows, err := scanRecurrings(s.r.QueryContext(ctx, sqlRecurringListDue, micros(params.Now), params.Max))
	if err != nil {
		return nil, fail("list due recurring entries", err)
	}
	return rows, nil
}

// RecurringEnqueue enqueues the occurrences of entry params.ID in one
// writer transaction, in order, as store.RecurringStore documents. The
// overlap check reads the unfinished jobs among the entry's 8 newest
// occurrences (newest by occurrence time) once, before the first insert.
// An occurrence that already has a row (from an earlier call, another
// scheduler, or earlier in this call) is skipped as a "duplicate"; one
// that params.Overlap blocks as an "overlap". Otherwise the job is
// inserted as JobInsertMany inserts it (pending, a continuation of the job
// it waits for, when it must wait); if its UniqueKey is held by a job that
// may still run, the occurrence is skipped as a "duplicate" without a row;
// else the occurrence row is written and the entry's LastRunAt and
// LastJobID become this occurrence's. Last, NextRunAt moves to
// params.NextRunAt if it still is params.PrevNextRunAt (a zero NextRunAt
// leaves it), LastError becomes params.LastError if set, and UpdatedAt
// becomes params.Now if a job was inserted, NextRunAt moved or LastError
// changed. An unknown entry gives a wrapped kilntype.ErrNotFound, a nil or
// invalid job param or an unknown Overlap fails the call, and nothing is
// written then.
func (s *Store) RecurringEnqueue(ctx context.Context, params *store.RecurringEnqueueParams) ([]store.RecurringOccurrenceResult, error) {
	what := fmt.Sprintf("enqueue recurring entry %q", params.ID)
	e, err := s.prepareEnqueue(ctx, params)
	if err != nil {
		return nil, fail(what, err)
	}
	var results []store.RecurringOccurrenceResult
	err = s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		var found bool
		results, found, err = enqueueOccurrences(ctx, tx, st, e)
		if err == nil && !found {
			err = kilntype.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fail(what, err)
	}
	return results, nil
}

// RecurringEnqueueMany does what RecurringEnqueue does for several entries in
// one write transaction, and returns the results of each, in order. An entry
// that does not exist (it was deleted meanwhile) gets nil results; an
// invalid param fails the whole call.
func (s *Store) RecurringEnqueueMany(ctx context.Context, params []*store.RecurringEnqueueParams) ([][]store.RecurringOccurrenceResult, error) {
	prepared := make([]*preparedEnqueue, len(params))
	for i, p := range params {
		var err error
		if prepared[i], err = s.prepareEnqueue(ctx, p); err != nil {
			return nil, fail(fmt.Sprintf("enqueue recurring entry %q", p.ID), err)
		}
	}
	results := make([][]store.RecurringOccurrenceResult, len(params))
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		for i, e := range prepared {
			res, found, err := enqueueOccurrences(ctx, tx, st, e)
			if err != nil {
				return fmt.Errorf("entry %q: %w", e.params.ID, err)
			}
			if found {
				results[i] = res
			}
		}
		return nil
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("enqueue %d recurring entries", len(params)), err)
	}
	return results, nil
}

// preparedEnqueue is a RecurringEnqueueParams checked and turned into the
// rows and statements its transaction needs.
type preparedEnqueue struct {
	params  *store.RecurringEnqueueParams
	rows    []insertedRow
	inserts map[int]*sql.Stmt
}

// prepareEnqueue checks params and prepares what enqueueOccurrences needs
// outside the writer transaction.
func (s *Store) prepareEnqueue(ctx context.Context, params *store.RecurringEnqueueParams) (*preparedEnqueue, error) {
	e := &preparedEnqueue{params: params, rows: make([]insertedRow, len(params.Occurrences))}
	for i, o := range params.Occurrences {
		if o.Job == nil {
			return nil, fmt.Errorf("occurrence %d: no job", i)
		}
		if o.Job.HasDependencies() {
			return nil, fmt.Errorf("occurrence %d: a recurring job cannot have parents or a batch", i)
		}
		var err error
		if e.rows[i], err = insertRow(o.Job); err != nil {
			return nil, fmt.Errorf("occurrence %d: %w", i, err)
		}
	}
	if len(params.Occurrences) > 0 {
		if !params.Overlap.Valid() {
			return nil, fmt.Errorf("unknown overlap policy %q", params.Overlap)
		}
		var err error
		if e.inserts, err = s.batch(ctx, func(st *stmts) *batchStmt { return st.insertJobs }, 1); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// enqueueOccurrences runs one entry's enqueue in tx, as RecurringEnqueue
// documents. found is false, and nothing is written, when the entry does not
// exist.
func enqueueOccurrences(ctx context.Context, tx *sql.Tx, st *stmts, e *preparedEnqueue) (results []store.RecurringOccurrenceResult, found bool, err error) {
	params := e.params
	var next, prev any // NULL: NextRunAt stays
	if !params.NextRunAt.IsZero() {
		next, prev = micros(params.NextRunAt), micros(params.PrevNextRunAt)
	}
	id := params.ID
	missing, err := recurringMissing(ctx, tx, st, id)
	if err != nil || missing {
		return nil, false, err
	}
	results = make([]store.RecurringOccurrenceResult, len(params.Occurrences))
	blocked, waitFor, err := overlapVerdict(ctx, tx, st, params)
	if err != nil {
		return nil, true, err
	}
	var (
		exists    = tx.StmtContext(ctx, st.occurrenceExists)
		insertOcc = tx.StmtContext(ctx, st.occurrenceInsert)
		lastRun   any // NULL: no job inserted
		lastJob   any
	)
	for i, o := range params.Occurrences {
		at := micros(o.At)
		results[i].At = fromMicros(at)
		var one int
		err := exists.QueryRowContext(ctx, id, at).Scan(&one)
		if err == nil {
			results[i].Skipped = store.SkipDuplicate
			continue
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, true, fmt.Errorf("occurrence %d: %w", i, err)
		}
		if blocked {
			results[i].Skipped = store.SkipOverlap
			continue
		}
		row := e.rows[i]
		if waitFor != 0 {
			if row, err = waitingRow(row, waitFor); err != nil {
				return nil, true, fmt.Errorf("occurrence %d: %w", i, err)
			}
		}
		var res [1]store.JobInsertResult
		if err := insertJobs(ctx, tx, st, e.inserts, []insertedRow{row}, res[:]); err != nil {
			return nil, true, fmt.Errorf("occurrence %d: insert job: %w", i, err)
		}
		if res[0].UniqueSkipped {
			results[i].Skipped = store.SkipDuplicate
			continue
		}
		job := res[0].Job
		if waitFor != 0 {
			if _, err := tx.StmtContext(ctx, st.occurrenceWait).ExecContext(ctx, job.ID, waitFor); err != nil {
				return nil, true, fmt.Errorf("occurrence %d: record parent: %w", i, err)
			}
		}
		if _, err := insertOcc.ExecContext(ctx, id, at, job.ID); err != nil {
			return nil, true, fmt.Errorf("occurrence %d: record: %w", i, err)
		}
		results[i].Job = job
		lastRun, lastJob = at, job.ID
		if params.Overlap != kilntype.OverlapAllow {
			waitFor = job.ID // the next one runs after this one
		}
	}
	var lastError any // NULL: it stays
	if params.LastError != nil {
		lastError = *params.LastError
	}
	_, err = tx.StmtContext(ctx, st.recurringEnqueued).ExecContext(ctx, id, lastRun, lastJob,
		next, prev, micros(params.Now), lastError)
	if err == nil {
		err = writeSkips(ctx, tx, params, results)
	}
	return results, true, err
}

// overlapVerdict applies params.Overlap to the entry's unfinished jobs, in
// tx: blocked says that the call's occurrences are skipped, waitFor is the
// running job the first inserted one must wait for (0: none).
func overlapVerdict(ctx context.Context, tx *sql.Tx, st *stmts, params *store.RecurringEnqueueParams) (blocked bool, waitFor int64, err error) {
	if params.Overlap == kilntype.OverlapAllow || len(params.Occurrences) == 0 {
		return false, 0, nil
	}
	var unfinished, notRunning int
	var running int64
	err = tx.StmtContext(ctx, st.occurrenceOverlap).QueryRowContext(ctx, params.ID).Scan(&unfinished, &notRunning, &running)
	if err != nil {
		return false, 0, fmt.Errorf("overlap: %w", err)
	}
	switch {
	case unfinished == 0:
		return false, 0, nil
	case params.Overlap == kilntype.OverlapQueueOne && unfinished == 1 && notRunning == 0:
		return false, running, nil
	}
	return true, 0, nil
}

// waitingRow returns a copy of row to insert pending, waiting for job
// parent, with parent in its metadata.
func waitingRow(row insertedRow, parent int64) (insertedRow, error) {
	job := *row.job
	metadata, err := store.WithParentIDs(job.Metadata, parent)
	if err != nil {
		return insertedRow{}, err
	}
	job.State, job.Metadata = kilntype.JobStatePending, metadata
	return insertedRow{job: &job, tags: row.tags}, nil
}

// RecurringOccurrenceList returns the newest occurrences of entry id, by
// occurrence time, at most limit (0 or less means store.DefaultListLimit,
// more than store.MaxListLimit is cut to it), each with its job's state ("" when
// the job was deleted). An unknown entry gives an empty list. It reads from
// the reader pool.
func (s *Store) RecurringOccurrenceList(ctx context.Context, params *store.RecurringOccurrenceListParams) ([]*store.RecurringOccurrence, error) {
	id, limit := params.ID, params.Limit
	what := fmt.Sprintf("list occurrences of recurring entry %q", id)
	rows, err := s.r.QueryContext(ctx, sqlOccurrenceList, id, listLimit(limit))
	if err != nil {
		return nil, fail(what, err)
	}
	defer rows.Close()
	out := []*store.RecurringOccurrence{}
	for rows.Next() {
		var (
			o     = store.RecurringOccurrence{RecurringID: id}
			at    int64
			state string

			started, attempted, finalized sql.NullInt64
		)
		if err := rows.Scan(&at, &o.JobID, &state, &started, &attempted, &finalized, &o.Attempt); err != nil {
			return nil, fail(what, err)
		}
		o.StartedAt, o.AttemptedAt, o.FinalizedAt = fromNullMicros(started), fromNullMicros(attempted), fromNullMicros(finalized)
		o.At = fromMicros(at)
		o.JobState = kilntype.JobState(state)
		out = append(out, &o)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(what, err)
	}
	return out, nil
}

// scanRecurring reads one row of recurringColumns.
func scanRecurring(sc scanner) (*kilntype.RecurringRow, error) {
	var (
		r                               kilntype.RecurringRow
		args, metadata                  []byte
		tags, overlap, misfire          string
		paused                          int
		nextRunAt, createdAt, updatedAt int64
		lastRunAt, lastJobID            sql.NullInt64
	)
	err := sc.Scan(&r.ID, &r.Schedule, &r.TimeZone, &r.Kind, &args, &r.Queue, &r.Priority,
		&r.MaxAttempts, &tags, &metadata, &overlap, &misfire, &r.MisfireMax, &paused,
		&nextRunAt, &lastRunAt, &lastJobID, &r.LastError, &createdAt, &updatedAt, &r.Partition)
	if err != nil {
		return nil, err
	}
	r.Args = args
	r.Metadata = metadata
	r.Overlap = kilntype.OverlapPolicy(overlap)
	r.Misfire = kilntype.MisfirePolicy(misfire)
	r.Paused = paused != 0
	r.NextRunAt = fromMicros(nextRunAt)
	r.LastRunAt = fromNullMicros(lastRunAt)
	r.LastJobID = lastJobID.Int64
	r.CreatedAt = fromMicros(createdAt)
	r.UpdatedAt = fromMicros(updatedAt)
	if r.Tags, err = decodeTags(tags); err != nil {
		return nil, fmt.Errorf("recurring entry %q: %w", r.ID, err)
	}
	return &r, nil
}

// scanRecurrings reads every row of rows with scanRecurring and closes
// rows. It takes QueryContext's results as they are: err is returned as is.
func scanRecurrings(rows *sql.Rows, err error) ([]*kilntype.RecurringRow, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*kilntype.RecurringRow{}
	for rows.Next() {
		r, err := scanRecurring(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
