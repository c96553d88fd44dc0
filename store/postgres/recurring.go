package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// recurringColumns lists kiln_recurring's columns in the order
// scanRecurring reads them and sqlRecurringUpsert writes them.
const recurringColumns = `id, schedule, time_zone, kind, args, queue, priority, max_attempts,
	tags, metadata, overlap, misfire, misfire_max, paused, next_run_at, last_run_at,
	last_job_id, last_error, created_at, updated_at, partition_key`

// sqlRecurringUpsert creates entry $1 from $1 to $21 (recurringColumns), or
// updates its definition; the update keeps paused, last_run_at,
// last_job_id, last_error and created_at, and next_run_at unless $22. The
// last column says whether the row was inserted: an updated row has a
// non-zero xmax (the lock that ON CONFLICT took on it).
const sqlRecurringUpsert = `INSERT INTO {s}.kiln_recurring AS r (` + recurringColumns + `)
VALUES ($1, $2, $3, $4, $5::text::jsonb, $6, $7, $8, $9, $10::text::jsonb, $11, $12, $13, $14,
	$15, $16, $17, $18, $19, $20, $21)
ON CONFLICT (id) DO UPDATE SET
	schedule = excluded.schedule, time_zone = excluded.time_zone, kind = excluded.kind,
	args = excluded.args, queue = excluded.queue, priority = excluded.priority,
	max_attempts = excluded.max_attempts, tags = excluded.tags, metadata = excluded.metadata,
	overlap = excluded.overlap, misfire = excluded.misfire, misfire_max = excluded.misfire_max,
	partition_key = excluded.partition_key,
	next_run_at = CASE WHEN $22 THEN excluded.next_run_at ELSE r.next_run_at END,
	updated_at = excluded.updated_at
RETURNING ` + recurringColumns + `, r.xmax = 0`

// sqlRecurringGet returns one entry.
const sqlRecurringGet = `SELECT ` + recurringColumns + ` FROM {s}.kiln_recurring WHERE id = $1`

// sqlRecurringList returns up to $2 entries after ID $1, by ID.
const sqlRecurringList = `SELECT ` + recurringColumns + ` FROM {s}.kiln_recurring
WHERE id > $1 ORDER BY id LIMIT $2`

// sqlRecurringDelete deletes entry $1 (its occurrence rows go with it: ON
// DELETE CASCADE) and returns it as it was.
const sqlRecurringDelete = `DELETE FROM {s}.kiln_recurring WHERE id = $1 RETURNING ` + recurringColumns

// sqlRecurringDeleteExcept deletes the entries whose ID is not in $1 and
// returns their IDs.
const sqlRecurringDeleteExcept = `DELETE FROM {s}.kiln_recurring WHERE id <> ALL($1::text[]) RETURNING id`

// sqlRecurringSetPaused sets entry $1's paused to $2 at $4, unless it is
// already; resuming sets next_run_at to $3. It returns the entry when it
// changed it.
const sqlRecurringSetPaused = `UPDATE {s}.kiln_recurring SET paused = $2,
	next_run_at = CASE WHEN $2 THEN next_run_at ELSE $3 END,
	updated_at = $4
WHERE id = $1 AND paused <> $2
RETURNING ` + recurringColumns

// sqlRecurringSetError sets entry $1's last_error to $2 at $3.
const sqlRecurringSetError = `UPDATE {s}.kiln_recurring SET last_error = $2, updated_at = $3 WHERE id = $1`

// sqlRecurringNextDue returns the earliest next_run_at of the entries that
// are not paused (NULL when there is none): one seek of kiln_recurring_due.
const sqlRecurringNextDue = `SELECT min(next_run_at) FROM {s}.kiln_recurring WHERE NOT paused`

// sqlRecurringListDue returns up to $2 entries that are not paused and due
// at $1, earliest first, from kiln_recurring_due.
const sqlRecurringListDue = `SELECT ` + recurringColumns + ` FROM {s}.kiln_recurring
WHERE NOT paused AND next_run_at <= $1
ORDER BY next_run_at, id
LIMIT $2`

// sqlRecurringLock locks the entries whose IDs are in $1, in ID order (so
// that two enqueues of overlapping sets of entries cannot deadlock), and
// returns the IDs of those that exist.
const sqlRecurringLock = `SELECT id FROM {s}.kiln_recurring WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE`

// sqlOccurrencesAt returns which of the times $2 entry $1 has occurrence
// rows at.
const sqlOccurrencesAt = `SELECT occurrence_at FROM {s}.kiln_recurring_occurrence
WHERE recurring_id = $1 AND occurrence_at = ANY($2::timestamptz[])`

// overlapWindow is how many of an entry's newest occurrences the overlap
// check looks at.
const overlapWindow = 8

// sqlOccurrencesNewest returns entry $1's newest occurrences (overlapWindow
// of them, by occurrence time, from the primary key) with their jobs' IDs
// and states ("" when the job is gone).
var sqlOccurrencesNewest = fmt.Sprintf(`SELECT o.occurrence_at, o.job_id, coalesce(j.state, '')
FROM (SELECT occurrence_at, job_id FROM {s}.kiln_recurring_occurrence
	WHERE recurring_id = $1 ORDER BY occurrence_at DESC LIMIT %d) AS o
LEFT JOIN {s}.kiln_job AS j ON j.id = o.job_id`, overlapWindow)

// sqlLockRunning locks job $1 FOR SHARE and returns its state: a job that
// an occurrence is about to wait for cannot end (its finish takes FOR NO
// KEY UPDATE) before the waiting job is committed, and one whose end
// committed first is seen ended.
const sqlLockRunning = `SELECT state FROM {s}.kiln_job WHERE id = $1 FOR SHARE`

// sqlOccurrenceInsert inserts one occurrence's job ($1 to $11 and $16,
// the partition key, as in kiln_job, tags as text[]) and, if the job was inserted (its unique key,
// $11, was free), the occurrence row of entry $12 at $13. A job that must
// wait names its parent: job $14, or the job of the entry's occurrence at
// $15; it is then inserted pending, with the parent in its metadata
// (kiln.parent_ids) and a kiln_job_parent row (ParentFailure run). It
// returns the job's ID and its parent's (NULL: none), or no row.
const sqlOccurrenceInsert = `WITH parent AS (
	SELECT coalesce($14::bigint, (SELECT job_id FROM {s}.kiln_recurring_occurrence
		WHERE recurring_id = $12 AND occurrence_at = $15::timestamptz)) AS id
),
job AS (
	INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, max_attempts,
		created_at, scheduled_at, tags, metadata, unique_key, partition_key)
	SELECT $1, $2, $3::text::jsonb, CASE WHEN p.id IS NULL THEN $4::text ELSE 'pending' END, $5, $6, $7, $8,
		$9::text[], CASE WHEN p.id IS NULL THEN $10::text::jsonb
			ELSE $10::text::jsonb || jsonb_build_object('` + store.MetadataParentIDs + `', jsonb_build_array(p.id)) END,
		nullif($11, ''), $16
	FROM parent AS p
	ON CONFLICT DO NOTHING
	RETURNING id
),
occurrence AS (
	INSERT INTO {s}.kiln_recurring_occurrence (recurring_id, occurrence_at, job_id)
	SELECT $12, $13, id FROM job
),
waits AS (
	INSERT INTO {s}.kiln_job_parent (child_id, parent_id, on_failure)
	SELECT job.id, p.id, 'run' FROM job CROSS JOIN parent AS p WHERE p.id IS NOT NULL
)
SELECT job.id, p.id FROM job CROSS JOIN parent AS p`

// sqlRecurringEnqueued ends an enqueue of entry $1 at $5: the latest
// inserted occurrence $2 (NULL: none inserted) and its job, read from its
// occurrence row, become last_run_at and last_job_id, next_run_at moves to
// $3 if it still is $4 ($3 NULL: it stays), and last_error becomes $6
// (NULL: it stays). updated_at becomes $5 only when something changed.
const sqlRecurringEnqueued = `UPDATE {s}.kiln_recurring SET
	last_run_at = coalesce($2, last_run_at),
	last_job_id = coalesce((SELECT job_id FROM {s}.kiln_recurring_occurrence
		WHERE recurring_id = $1 AND occurrence_at = $2), last_job_id),
	next_run_at = CASE WHEN $3::timestamptz IS NOT NULL AND next_run_at = $4 THEN $3 ELSE next_run_at END,
	last_error = coalesce($6::text, last_error),
	updated_at = $5
WHERE id = $1 AND ($2::timestamptz IS NOT NULL OR ($3::timestamptz IS NOT NULL AND next_run_at = $4)
	OR last_error <> $6::text)`

// sqlOccurrenceList returns entry $1's newest $2 occurrences with the state
// of their jobs ("" when the job is gone), the start of their first
// attempt (the oldest attempt row, an index seek of kiln_job_attempt_job;
// without one, a job completed at its first attempt, its attempted_at),
// of their latest attempt, their end and attempt count.
const sqlOccurrenceList = `SELECT o.occurrence_at, o.job_id, coalesce(j.state, ''),
	coalesce((SELECT a.started_at FROM {s}.kiln_job_attempt AS a
		WHERE a.job_id = o.job_id ORDER BY a.id LIMIT 1), j.attempted_at),
	j.attempted_at, j.finalized_at, coalesce(j.attempt, 0)
FROM {s}.kiln_recurring_occurrence AS o
LEFT JOIN {s}.kiln_job AS j ON j.id = o.job_id
WHERE o.recurring_id = $1
ORDER BY o.occurrence_at DESC
LIMIT $2`

// RecurringUpsert creates the entry params.Row, or updates the entry with
// its ID, in one statement, and reports whether it created it. A new entry
// is stored as the row gives it (Paused, LastRunAt, LastJobID and LastError
// included), with CreatedAt and UpdatedAt params.Now. An update replaces
// the definition (schedule, time zone, job template, policies) and sets
// UpdatedAt to params.Now; it keeps Paused, LastRunAt, LastJobID,
// LastError and CreatedAt, and NextRunAt unless params.ResetNextRun. It
// returns the entry as stored. A row without ID or with an unknown overlap
// or misfire policy is refused; nil Tags are stored as an empty array and
// nil Metadata as {}.
func (s *Store) RecurringUpsert(ctx context.Context, params *store.RecurringUpsertParams) (*kilntype.RecurringRow, bool, error) {
	if params == nil || params.Row == nil {
		return nil, false, fail("upsert recurring entry", errors.New("no row"))
	}
	r := params.Row
	what := fmt.Sprintf("upsert recurring entry %q", r.ID)
	if err := store.ValidateRecurringRow(r); err != nil {
		return nil, false, fail(what, err)
	}
	tags := r.Tags
	if tags == nil {
		tags = []string{}
	}
	metadata := "{}"
	if r.Metadata != nil {
		metadata = string(r.Metadata)
	}
	var lastRun *time.Time
	if r.LastRunAt != nil {
		t := truncate(*r.LastRunAt)
		lastRun = &t
	}
	var lastJob *int64
	if r.LastJobID != 0 {
		lastJob = &r.LastJobID
	}
	now := truncate(params.Now)
	var created bool
	row, err := scanRecurring(rowWithExtra{s.pool.QueryRow(ctx, s.sql(sqlRecurringUpsert),
		r.ID, r.Schedule, r.TimeZone, r.Kind, string(r.Args), r.Queue, r.Priority, r.MaxAttempts,
		tags, metadata, string(r.Overlap), string(r.Misfire), r.MisfireMax, r.Paused,
		truncate(r.NextRunAt), lastRun, lastJob, r.LastError, now, now, r.Partition, params.ResetNextRun), []any{&created}})
	if err != nil {
		return nil, false, fail(what, err)
	}
	return row, created, nil
}

// RecurringGet returns the entry id, or a wrapped kilntype.ErrNotFound.
func (s *Store) RecurringGet(ctx context.Context, params *store.RecurringGetParams) (*kilntype.RecurringRow, error) {
	id := params.ID
	row, err := scanRecurring(s.pool.QueryRow(ctx, s.sql(sqlRecurringGet), id))
	if isNoRows(err) {
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
// store.MaxListLimit is cut to it.
func (s *Store) RecurringList(ctx context.Context, params *store.RecurringListParams) ([]*kilntype.RecurringRow, error) {
	rows, err := scanRecurrings(s.pool.Query(ctx, s.sql(sqlRecurringList), params.Cursor, listLimit(params.Limit)))
	if err != nil {
		return nil, fail("list recurring entries", err)
	}
	return rows, nil
}

// RecurringDelete deletes the entry id and its occurrence rows (the jobs
// it enqueued stay) and returns it as it was, or a wrapped
// kilntype.ErrNotFound.
func (s *Store) RecurringDelete(ctx context.Context, params *store.RecurringDeleteParams) (*kilntype.RecurringRow, error) {
	id := params.ID
	row, err := scanRecurring(s.pool.QueryRow(ctx, s.sql(sqlRecurringDelete), id))
	if isNoRows(err) {
		err = kilntype.ErrNotFound
	}
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
	rows, err := s.pool.Query(ctx, s.sql(sqlRecurringDeleteExcept), keep)
	if err != nil {
		return nil, fail("prune recurring entries", err)
	}
	deleted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fail("prune recurring entries", err)
	}
	if deleted == nil {
		deleted = []string{}
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
	if params.Paused {
		verb = "pause"
	}
	row, err := scanRecurring(s.pool.QueryRow(ctx, s.sql(sqlRecurringSetPaused),
		params.ID, params.Paused, truncate(params.NextRunAt), truncate(params.Now)))
	if isNoRows(err) { // unknown, or already as asked
		row, err = scanRecurring(s.pool.QueryRow(ctx, s.sql(sqlRecurringGet), params.ID))
		if isNoRows(err) {
			err = kilntype.ErrNotFound
		}
	}
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
	tag, err := s.pool.Exec(ctx, s.sql(sqlRecurringSetError), id, message, truncate(now))
	if err == nil && tag.RowsAffected() == 0 {
		err = kilntype.ErrNotFound
	}
	if err != nil {
		return fail(fmt.Sprintf("set error of recurring entry %q", id), err)
	}
	return nil
}

// RecurringNextDue returns the earliest NextRunAt of the entries that are
// not paused, and false when there is none.
func (s *Store) RecurringNextDue(ctx context.Context) (time.Time, bool, error) {
	var next *time.Time
	if err := s.pool.QueryRow(ctx, s.sql(sqlRecurringNextDue)).Scan(&next); err != nil {
		return time.Time{}, false, fail("next due recurring entry", err)
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return next.UTC(), true, nil
}

// RecurringListDue returns up to params.Max entries that are not paused and
// whose NextRunAt <= params.Now, earliest first (ties by ID). A Max below 1
// returns none.
func (s *Store) RecurringListDue(ctx context.Context, params *store.RecurringListDueParams) ([]*kilntype.RecurringRow, error) {
	if params.Max < 1 {
		return []*kilntype.RecurringRow{}, nil
	}
	rows, err := scanRecurrings(s.pool.Query(ctx, s.sql(sqlRecurringListDue), truncate(params.Now), params.Max))
	if err != nil {
		return nil, fail("list due recurring entries", err)
	}
	return rows, nil
}

// RecurringEnqueue enqueues the occurrences of entry params.ID in one
// transaction, in order, after locking the entry (SELECT ... FOR UPDATE), so
// that concurrent enqueues of the entry take turns, as
// store.RecurringStore documents. The overlap check reads the unfinished
// jobs among the entry's 8 newest occurrences (newest by occurrence time)
// once, before the first insert; a running job that the call's first job
// is to wait for is locked FOR SHARE and read again, so that it cannot end
// unseen before the waiting job is committed. An occurrence that already
// has a row (from an earlier call, another scheduler, or earlier in this
// call) is skipped as a "duplicate"; one that params.Overlap blocks as an
// "overlap". Otherwise the job is inserted as JobInsertMany inserts it
// (pending, a continuation of the job it waits for, when it must wait); if
// its UniqueKey is held by a job that may still run, the occurrence is
// skipped as a "duplicate" without a row; else the occurrence row is
// written and the entry's LastRunAt and LastJobID become this occurrence's.
// Last, NextRunAt moves to params.NextRunAt if it still is
// params.PrevNextRunAt (a zero NextRunAt leaves it), LastError becomes
// params.LastError if set, and UpdatedAt becomes params.Now if a job was
// inserted, NextRunAt moved or LastError changed. An unknown entry gives a
// wrapped kilntype.ErrNotFound, a nil or invalid job param or an unknown
// Overlap fails the call, and nothing is written then.
//
// Without unique keys, the inserts and the entry's update go to the server
// as one pipelined batch: the call takes five round trips (begin, lock, read
// the entry's occurrences, write, commit) whatever its number of
// occurrences, six when it locks a running job. With them, each insert is a
// round trip of its own, since whether it was skipped decides which job the
// next one waits for.
func (s *Store) RecurringEnqueue(ctx context.Context, params *store.RecurringEnqueueParams) ([]store.RecurringOccurrenceResult, error) {
	what := fmt.Sprintf("enqueue recurring entry %q", params.ID)
	e, err := prepareEnqueue(params)
	if err != nil {
		return nil, fail(what, err)
	}
	var results []store.RecurringOccurrenceResult
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		found, err := s.lockEntries(ctx, tx, []string{params.ID})
		if err != nil {
			return err
		}
		if !found[params.ID] {
			return kilntype.ErrNotFound
		}
		results, err = s.enqueueOccurrences(ctx, tx, e)
		return err
	})
	if err != nil {
		return nil, fail(what, err)
	}
	return results, nil
}

// RecurringEnqueueMany does what RecurringEnqueue does for several entries
// in one transaction, locking them all first, in ID order, and returns the
// results of each, in order. An entry that does not exist (it was deleted
// meanwhile) gets nil results; an invalid param fails the whole call.
func (s *Store) RecurringEnqueueMany(ctx context.Context, params []*store.RecurringEnqueueParams) ([][]store.RecurringOccurrenceResult, error) {
	prepared := make([]*preparedEnqueue, len(params))
	ids := make([]string, len(params))
	for i, p := range params {
		var err error
		if prepared[i], err = prepareEnqueue(p); err != nil {
			return nil, fail(fmt.Sprintf("enqueue recurring entry %q", p.ID), err)
		}
		ids[i] = p.ID
	}
	results := make([][]store.RecurringOccurrenceResult, len(params))
	if len(params) == 0 {
		return results, nil
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		found, err := s.lockEntries(ctx, tx, ids)
		if err != nil {
			return err
		}
		for i, e := range prepared {
			if !found[e.params.ID] {
				continue
			}
			if results[i], err = s.enqueueOccurrences(ctx, tx, e); err != nil {
				return fmt.Errorf("entry %q: %w", e.params.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fail(fmt.Sprintf("enqueue %d recurring entries", len(params)), err)
	}
	return results, nil
}

// lockEntries locks the entries ids in tx and returns those that exist.
func (s *Store) lockEntries(ctx context.Context, tx pgx.Tx, ids []string) (map[string]bool, error) {
	rows, err := tx.Query(ctx, s.sql(sqlRecurringLock), ids)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	locked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	found := make(map[string]bool, len(locked))
	for _, id := range locked {
		found[id] = true
	}
	return found, nil
}

// preparedEnqueue is a RecurringEnqueueParams checked and turned into the
// rows its transaction inserts.
type preparedEnqueue struct {
	params *store.RecurringEnqueueParams
	at     []time.Time // occurrence times, truncated
	rows   []insertedRow
}

// prepareEnqueue checks params and builds what enqueueOccurrences needs.
func prepareEnqueue(params *store.RecurringEnqueueParams) (*preparedEnqueue, error) {
	if params == nil {
		return nil, errors.New("nil params")
	}
	n := len(params.Occurrences)
	e := &preparedEnqueue{params: params, at: make([]time.Time, n), rows: make([]insertedRow, n)}
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
		e.at[i] = truncate(o.At)
	}
	if n > 0 && !params.Overlap.Valid() {
		return nil, fmt.Errorf("unknown overlap policy %q", params.Overlap)
	}
	return e, nil
}

// recentOccurrence is one of an entry's newest occurrences, for the overlap
// check.
type recentOccurrence struct {
	at    time.Time
	jobID int64
	state kilntype.JobState // "" when the job is gone
}

// enqueueState is what an enqueue knows of its entry's occurrences: those
// at the call's times, and the newest ones with their jobs' states.
type enqueueState struct {
	taken  map[time.Time]bool
	newest []recentOccurrence // newest first, at most overlapWindow
}

// verdict applies policy to the unfinished jobs among st.newest: blocked
// says that the call's occurrences are skipped, waitFor is the running job
// the first inserted one must wait for (0: none).
func (st *enqueueState) verdict(policy kilntype.OverlapPolicy) (blocked bool, waitFor int64) {
	if policy == kilntype.OverlapAllow {
		return false, 0
	}
	var unfinished, notRunning int
	var running int64
	for _, o := range st.newest {
		switch o.state {
		case kilntype.JobStateRunning:
			unfinished++
			running = o.jobID
		case kilntype.JobStatePending, kilntype.JobStateScheduled, kilntype.JobStateAvailable, kilntype.JobStateRetryable:
			unfinished++
			notRunning++
		}
	}
	switch {
	case unfinished == 0:
		return false, 0
	case policy == kilntype.OverlapQueueOne && unfinished == 1 && notRunning == 0:
		return false, running
	}
	return true, 0
}

// readEnqueueState reads, in one round trip, the entry's occurrence rows at
// the times of e and its newest occurrences.
func (s *Store) readEnqueueState(ctx context.Context, tx pgx.Tx, e *preparedEnqueue) (*enqueueState, error) {
	st := &enqueueState{taken: make(map[time.Time]bool)}
	if len(e.at) == 0 {
		return st, nil
	}
	var b pgx.Batch
	b.Queue(s.sql(sqlOccurrencesAt), e.params.ID, e.at).Query(func(rows pgx.Rows) error {
		var at time.Time
		_, err := pgx.ForEachRow(rows, []any{&at}, func() error {
			st.taken[at.UTC()] = true
			return nil
		})
		return err
	})
	if e.params.Overlap != kilntype.OverlapAllow {
		b.Queue(s.sql(sqlOccurrencesNewest), e.params.ID).Query(func(rows pgx.Rows) error {
			var (
				at    time.Time
				jobID int64
				state string
			)
			_, err := pgx.ForEachRow(rows, []any{&at, &jobID, &state}, func() error {
				st.newest = append(st.newest, recentOccurrence{at: at.UTC(), jobID: jobID, state: kilntype.JobState(state)})
				return nil
			})
			return err
		})
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("read occurrences: %w", err)
	}
	return st, nil
}

// overlapVerdict returns st's verdict on e; a running job to wait for is
// locked first, and the verdict taken again with its state as it is then.
func (s *Store) overlapVerdict(ctx context.Context, tx pgx.Tx, st *enqueueState, e *preparedEnqueue) (blocked bool, waitFor int64, err error) {
	blocked, waitFor = st.verdict(e.params.Overlap)
	if waitFor == 0 {
		return blocked, 0, nil
	}
	var state string
	err = tx.QueryRow(ctx, s.sql(sqlLockRunning), waitFor).Scan(&state)
	if isNoRows(err) {
		state, err = "", nil // deleted meanwhile: finished
	}
	if err != nil {
		return false, 0, fmt.Errorf("lock running job %d: %w", waitFor, err)
	}
	for i := range st.newest {
		if st.newest[i].jobID == waitFor {
			st.newest[i].state = kilntype.JobState(state)
		}
	}
	blocked, waitFor = st.verdict(e.params.Overlap)
	return blocked, waitFor, nil
}

// enqueueOccurrences runs one entry's enqueue in tx, which holds the
// entry's lock, as RecurringEnqueue documents.
func (s *Store) enqueueOccurrences(ctx context.Context, tx pgx.Tx, e *preparedEnqueue) ([]store.RecurringOccurrenceResult, error) {
	params := e.params
	st, err := s.readEnqueueState(ctx, tx, e)
	if err != nil {
		return nil, err
	}
	blocked, waitFor, err := s.overlapVerdict(ctx, tx, st, e)
	if err != nil {
		return nil, err
	}
	results := make([]store.RecurringOccurrenceResult, len(params.Occurrences))
	var (
		lastRun *time.Time // nil: no job inserted
		// The job the next inserted one waits for: waitFor, then, under
		// skip and queue_one, the job of the occurrence inserted last.
		waitAt *time.Time
		chain  = params.Overlap != kilntype.OverlapAllow
	)
	// pipelined says whether every insert will succeed, so that the
	// decisions can all be made before any insert runs: a job without a
	// unique key is always inserted.
	pipelined := true
	for _, r := range e.rows {
		pipelined = pipelined && r.job.UniqueKey == ""
	}
	var b pgx.Batch
	for i, at := range e.at {
		results[i].At = at
		switch {
		case st.taken[at]:
			results[i].Skipped = store.SkipDuplicate
			continue
		case blocked:
			results[i].Skipped = store.SkipOverlap
			continue
		}
		row := e.rows[i]
		job := *row.job
		results[i].Job = &job
		var parentJob *int64
		if waitFor != 0 && waitAt == nil {
			parentJob = &waitFor
		}
		args := []any{job.Kind, job.Queue, string(job.Args), string(job.State), job.Priority,
			job.MaxAttempts, job.CreatedAt, job.ScheduledAt, job.Tags, string(job.Metadata),
			job.UniqueKey, params.ID, at, parentJob, waitAt, job.Partition}
		inserted := func(parent *int64) error {
			if parent == nil {
				return nil
			}
			metadata, err := store.WithParentIDs(job.Metadata, *parent)
			if err != nil {
				return err
			}
			job.State, job.Metadata = kilntype.JobStatePending, metadata
			return nil
		}
		if pipelined {
			b.Queue(s.sql(sqlOccurrenceInsert), args...).QueryRow(func(r pgx.Row) error {
				var parent *int64
				if err := r.Scan(&job.ID, &parent); err != nil {
					return fmt.Errorf("occurrence %d: insert job: %w", i, err)
				}
				return inserted(parent)
			})
		} else {
			var parent *int64
			err := tx.QueryRow(ctx, s.sql(sqlOccurrenceInsert), args...).Scan(&job.ID, &parent)
			if isNoRows(err) { // the unique key is held
				results[i] = store.RecurringOccurrenceResult{At: at, Skipped: store.SkipDuplicate}
				continue
			}
			if err == nil {
				err = inserted(parent)
			}
			if err != nil {
				return nil, fmt.Errorf("occurrence %d: insert job: %w", i, err)
			}
		}
		st.taken[at] = true
		lastRun = &results[i].At
		if chain {
			waitAt = lastRun
		}
	}

	var next, prev *time.Time // nil: NextRunAt stays
	if !params.NextRunAt.IsZero() {
		n, p := truncate(params.NextRunAt), truncate(params.PrevNextRunAt)
		next, prev = &n, &p
	}
	// The update follows the inserts: in the batch, it runs after them.
	b.Queue(s.sql(sqlRecurringEnqueued), params.ID, lastRun, next, prev, truncate(params.Now), params.LastError)
	s.queueSkips(&b, params, results)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	return results, nil
}

// RecurringOccurrenceList returns the newest occurrences of entry id, by
// occurrence time, at most limit (0 or less means store.DefaultListLimit,
// more than store.MaxListLimit is cut to it), each with its job's state
// ("" when the job was deleted). An unknown entry gives an empty list.
func (s *Store) RecurringOccurrenceList(ctx context.Context, params *store.RecurringOccurrenceListParams) ([]*store.RecurringOccurrence, error) {
	id, limit := params.ID, params.Limit
	what := fmt.Sprintf("list occurrences of recurring entry %q", id)
	rows, err := s.pool.Query(ctx, s.sql(sqlOccurrenceList), id, listLimit(limit))
	if err != nil {
		return nil, fail(what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.RecurringOccurrence, error) {
		o := &store.RecurringOccurrence{RecurringID: id}
		var state string
		if err := row.Scan(&o.At, &o.JobID, &state, &o.StartedAt, &o.AttemptedAt, &o.FinalizedAt, &o.Attempt); err != nil {
			return nil, err
		}
		o.At = o.At.UTC()
		o.StartedAt, o.AttemptedAt, o.FinalizedAt = utcPtr(o.StartedAt), utcPtr(o.AttemptedAt), utcPtr(o.FinalizedAt)
		o.JobState = kilntype.JobState(state)
		return o, nil
	})
	if err != nil {
		return nil, fail(what, err)
	}
	if out == nil {
		out = []*store.RecurringOccurrence{}
	}
	return out, nil
}

// scanRecurring reads one row of recurringColumns.
func scanRecurring(row pgx.Row) (*kilntype.RecurringRow, error) {
	var (
		r                kilntype.RecurringRow
		overlap, misfire string
		lastRunAt        *time.Time
		lastJobID        *int64
	)
	err := row.Scan(&r.ID, &r.Schedule, &r.TimeZone, &r.Kind, &r.Args, &r.Queue, &r.Priority,
		&r.MaxAttempts, &r.Tags, &r.Metadata, &overlap, &misfire, &r.MisfireMax, &r.Paused,
		&r.NextRunAt, &lastRunAt, &lastJobID, &r.LastError, &r.CreatedAt, &r.UpdatedAt, &r.Partition)
	if err != nil {
		return nil, err
	}
	r.Overlap = kilntype.OverlapPolicy(overlap)
	r.Misfire = kilntype.MisfirePolicy(misfire)
	r.NextRunAt = r.NextRunAt.UTC()
	r.LastRunAt = utcPtr(lastRunAt)
	if lastJobID != nil {
		r.LastJobID = *lastJobID
	}
	r.CreatedAt = r.CreatedAt.UTC()
	r.UpdatedAt = r.UpdatedAt.UTC()
	if r.Tags == nil {
		r.Tags = []string{}
	}
	return &r, nil
}

// scanRecurrings reads every row of rows with scanRecurring and closes
// rows. It takes Query's results as they are: err is returned as is.
func scanRecurrings(rows pgx.Rows, err error) ([]*kilntype.RecurringRow, error) {
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*kilntype.RecurringRow, error) {
		return scanRecurring(row)
	})
	if out == nil && err == nil {
		out = []*kilntype.RecurringRow{}
	}
	return out, err
}
