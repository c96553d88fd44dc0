package postgres

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlScheduleDue makes available up to $2 scheduled or retryable jobs due
// at $1, earliest first, read from kiln_job_due. It skips the jobs that a
// claim is taking (SKIP LOCKED): the claim takes due jobs of these states
// itself. due locks each job in the state it reads (a job changed since
// the statement's snapshot is read again once locked, and left out if no
// longer due), so counted knows the pair each moved job left. It returns
// how many jobs it moved.
var sqlScheduleDue = `WITH due AS MATERIALIZED (
	SELECT id, queue, state FROM {s}.kiln_job
	WHERE state IN ('scheduled', 'retryable') AND scheduled_at <= $1
	ORDER BY scheduled_at
	LIMIT $2
	FOR UPDATE SKIP LOCKED
),
moved AS (
	UPDATE {s}.kiln_job SET state = 'available' WHERE id = ANY(ARRAY(SELECT id FROM due)) RETURNING id
),
counted AS (
	` + countMoves("moved AS m JOIN due AS o ON o.id = m.id", "o.queue", "'available'", "o.queue", "o.state") + `
)
SELECT count(*) FROM moved`

// JobScheduleDue makes available up to params.Max scheduled or retryable
// jobs whose ScheduledAt <= params.Now, earliest first, and returns how many
// it moved. A Max below 1 moves none.
func (s *Store) JobScheduleDue(ctx context.Context, params *store.JobScheduleDueParams) (int, error) {
	if params.Max < 1 {
		return 0, nil
	}
	var n int
	if err := s.pool.QueryRow(ctx, s.sql(sqlScheduleDue), truncate(params.Now), params.Max).Scan(&n); err != nil {
		return 0, fail("schedule due jobs", err)
	}
	return n, nil
}

// sqlRescueMessage is the error of a rescued job's interrupted attempt,
// also its LastError: it names the process that held the lease.
const sqlRescueMessage = `'lease expired: process "' || coalesce(leased_by, '') ||
	'" stopped renewing it (it crashed, hung or lost the database)'`

// sqlRescue takes back, at $1, up to $2 running jobs whose lease expired
// before $3 (when $3 is NULL, before now(), the database's clock), earliest
// expiry first, in one statement. expired reads them
// through kiln_job_running, all of it (running jobs are few: at most the workers of the
// processes sharing the database) and locks them; rescued moves each to cancelled if a cancel was
// requested, to discarded if it used all its attempts, else to retryable at
// $1; counted writes their counter deltas (each leaves running, and its
// attempt ends); attempts records the interrupted attempt. $1 is cast wherever it
// appears: in pgx's simple_protocol mode (behind PgBouncer, say) it arrives
// as a text literal, which a CASE would otherwise leave as text. It returns the rescued jobs
// as they are after the move, earliest expiry first.
var sqlRescue = `WITH expired AS MATERIALIZED (
	SELECT id, attempt, attempted_at, leased_by, lease_expires_at
	FROM {s}.kiln_job
	WHERE state = 'running' AND lease_expires_at < coalesce($3::timestamptz, now())
	ORDER BY lease_expires_at, id
	LIMIT $2
	FOR UPDATE SKIP LOCKED
),
rescued AS (
	UPDATE {s}.kiln_job AS j SET
		state = CASE
			WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
			WHEN j.attempt >= j.max_attempts THEN 'discarded'
			ELSE 'retryable' END,
		scheduled_at = CASE
			WHEN j.cancel_requested_at IS NULL AND j.attempt < j.max_attempts THEN $1::timestamptz
			ELSE j.scheduled_at END,
		finalized_at = CASE
			WHEN j.cancel_requested_at IS NOT NULL OR j.attempt >= j.max_attempts THEN $1::timestamptz
			ELSE NULL END,
		last_error = ` + sqlRescueMessage + `,
		leased_by = NULL, lease_expires_at = NULL, cancel_requested_at = NULL
	WHERE j.id = ANY(ARRAY(SELECT id FROM expired))
	RETURNING ` + qualified("j", jobColumns) + `
),
counted AS (
	` + countMoves("rescued AS r", "r.queue", "r.state", "r.queue", "'running'") + `
),
attempts AS (
	INSERT INTO {s}.kiln_job_attempt (job_id, attempt, started_at, finished_at, server, outcome, error, trace)
	SELECT id, attempt, coalesce(attempted_at, $1::timestamptz), $1::timestamptz, coalesce(leased_by, ''), 'interrupted',
		` + sqlRescueMessage + `, ''
	FROM expired
)
SELECT ` + qualified("r", jobColumns) + `
FROM rescued AS r JOIN expired AS e ON e.id = r.id
ORDER BY e.lease_expires_at, e.id`

// JobRescueExpired takes back up to params.Max running jobs whose lease
// expired before the database's now() (before params.Now with
// Options.CallerClock), earliest expiry first. A
// job with a cancel request becomes cancelled, a job that used all its
// attempts becomes discarded (both finalized at Now), any other becomes
// retryable at Now. The lease and cancel request are cleared. Each job gets
// an interrupted attempt (the lost attempt still counts against
// MaxAttempts) whose error, also kept as LastError, says that the lease
// expired and names the process that held it. Jobs locked by another
// transaction (a finish in progress, or another process's rescue) are left
// for the next call; a job that another rescue took meanwhile is no longer
// running once locked, and is left out. So rescues of many processes may
// run at once, and each job is rescued, and its attempt recorded, once. It returns
// the rescued jobs as they are after the move, earliest expiry first. A Max
// below 1 rescues none.
func (s *Store) JobRescueExpired(ctx context.Context, params *store.JobRescueExpiredParams) ([]*kilntype.JobRow, error) {
	if params.Max < 1 {
		return []*kilntype.JobRow{}, nil
	}
	jobs := []*kilntype.JobRow{}
	err := batchQuery(ctx, s.pool, []batchStatement{{sql: sqlRescueSettings}}, s.sql(sqlRescue),
		[]any{truncate(params.Now), params.Max, s.callerTime(params.Now)}, func(rows pgx.Rows) error {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
			return nil
		})
	if err != nil {
		return nil, fail("rescue expired jobs", err)
	}
	return jobs, nil
}

// sqlRescueSettings disables bitmap scans for the rest of its transaction
// (set_config's is_local): JobRescueExpired sends it and sqlRescue in one
// batch, one round trip, whose implicit transaction ends the setting.
//
// The rescuer runs every RescueInterval in every process. PostgreSQL
// planned sqlRescue's expired as a bitmap scan of the index of running
// jobs (kiln_job_state_inflight's running entries then, kiln_job_running
// since migration 032),
// and a bitmap scan never marks the index entries of dead rows as dead:
// after a burn-down of 100,000 jobs, on a server whose autovacuum had not
// yet run (or is off), each run visited the 5,393 heap pages of the dead
// running rows (5,785 buffers) to find no job, run after run, until a
// VACUUM (docs/benchmarks.md, "Idle latency after a burn-down"). A plain
// index scan reads the same entries in the index's order, marks those of
// dead rows on its first pass (kill_prior_tuple), and later scans of
// either kind skip them (TestRescueMarksDeadEntries).
const sqlRescueSettings = `SELECT set_config('enable_bitmapscan', 'off', true)`

// sqlDeleteFinished deletes the jobs of the array $1, which the
// transaction locked with sqlLockGroup, unless a pending child waits on
// one: the guard runs again on this statement's snapshot, which sees every
// continuation committed before the lock was taken. It reads the parent
// rows of $1 through kiln_job_parent_parent (as an array, so that the
// planner cannot turn it into a join that reads every parent row). Their
// attempts go with them, and so do their own parent rows (ON DELETE
// CASCADE).
const sqlDeleteFinished = `DELETE FROM {s}.kiln_job
WHERE id = ANY($1::bigint[]) AND id <> ALL(ARRAY(
	SELECT d.parent_id FROM {s}.kiln_job_parent AS d JOIN {s}.kiln_job AS c ON c.id = d.child_id
	WHERE d.parent_id = ANY($1::bigint[]) AND c.state = 'pending'))`

// sqlCleanRead reads, in ID order, up to $3 jobs whose IDs are at least
// $1 and below $2, walking the primary key: the columns that say whether a
// job is due for deletion (see JobDeleteFinished).
const sqlCleanRead = `SELECT id, state, kind, queue, finalized_at, created_at FROM {s}.kiln_job
WHERE id >= $1 AND id < $2 ORDER BY id LIMIT $3`

// sqlCleanLock locks (FOR UPDATE SKIP LOCKED) the jobs of the array $1
// that are still finalized, and returns what says again whether each is
// due (the columns of sqlCleanRead, read by one scanCleanRow): a job retried meanwhile, and finalized again, has a new state and
// finalization time. Jobs that another transaction holds are skipped,
// notably the parents that an insert of continuations locked FOR KEY
// SHARE.
const sqlCleanLock = `SELECT id, state, kind, queue, finalized_at, created_at FROM {s}.kiln_job
WHERE id = ANY($1::bigint[]) AND finalized_at IS NOT NULL
ORDER BY id FOR UPDATE SKIP LOCKED`

// cleanChunk is the most jobs that one sqlCleanRead reads, and
// cleanFirstChunk the most that the first of a scan reads (variables for
// tests).
var cleanChunk, cleanFirstChunk = 1000, 100

// cleanFronts bounds the fronts of a JobDeleteFinished with Progress (see
// store.CleanProgress): each reads every job once.
const cleanFronts = 4

// JobDeleteFinished deletes up to params.Max finalized jobs, with their
// attempts, whose FinalizedAt is before the cut-off of their state, or of
// the most specific of params.Rules that matches them
// (store.JobDeleteFinishedParams.Cutoff), and returns how many jobs it
// deleted. A zero cut-off deletes no job of that state; a Max below 1
// deletes none. A job that a pending continuation or batch callback waits
// on is kept, as the SQLite store keeps it.
//
// No index of finalized jobs is read (kiln_job_finished, migration 027,
// serves the dashboard's pages by state, not the cleaner's cut-offs by
// state, kind and queue; docs/benchmarks.md, "PostgreSQL: the cleaner by
// ID ranges"): the jobs are read in ID order, chunk by chunk, by the primary
// key (sqlCleanRead), and those due are deleted, one transaction per
// chunk. With params.Progress, a call reads at most params.ReadMax jobs,
// from where the last call stopped: each cut-off's front moves on over the
// jobs created before that cut-off (IDs grow with time, so the front stops
// at the first job created after it that no older job follows in the
// chunk), and a sweep reads the jobs below the fronts again, at the pace
// store.CleanProgress describes, for the jobs that were not due when their
// front passed. Where it stopped is saved into params.Progress when the
// call returns, on error too, so a call cut short by its deadline loses
// at most the chunk under way. Without params.Progress, a call reads
// every job from the first until it deleted Max.
//
// Each chunk takes two statements in one transaction after its read:
// sqlCleanLock, then sqlDeleteFinished, whose guard runs on a snapshot
// taken after the locks. One statement would read kiln_job_parent on a
// snapshot taken before its locks, and could delete the parent of a
// continuation whose insert committed in between; the insert locks its
// parents FOR KEY SHARE, so the lock either skips such a parent or makes
// the insert wait, then fail with ErrNotFound as for any deleted parent.
// Jobs locked by another transaction, or that a pending child waits on,
// are left to a later sweep.
func (s *Store) JobDeleteFinished(ctx context.Context, params *store.JobDeleteFinishedParams) (int, error) {
	if params.Max < 1 {
		return 0, nil
	}
	c := &cleaning{s: s, p: params, left: -1}
	cutoffs := params.Cutoffs()
	if params.Progress == nil {
		if len(cutoffs) == 0 {
			return 0, nil
		}
		var next int64
		_, _, err := c.scan(ctx, &next, math.MaxInt64, time.Time{})
		return c.deleted, err
	}
	c.left = params.ReadMax
	if c.left < 1 {
		c.left = store.DefaultCleanReadMax
	}
	pos := *params.Progress
	pos.Fronts = slices.Clone(pos.Fronts)
	// The deferred save: what the call did, committed, is kept.
	defer func() { *params.Progress = pos }()
	pos.More = false
	if len(cutoffs) == 0 {
		return 0, nil
	}
	now := params.Now
	if now.IsZero() {
		now = time.Now()
	}
	if len(pos.Fronts) == 0 && pos.SweptAt.IsZero() {
		// The first fronts read every job: they are the first sweep.
		pos.SweptAt, pos.SweepRead, pos.FrontRead = now, -1, 0
	}
	// A front per cut-off, latest first, up to cleanFronts: the jobs
	// under the earlier cut-offs past the bound are left to the sweep.
	cutoffs = cutoffs[:min(len(cutoffs), cleanFronts)]
	pos.Fronts = append(pos.Fronts, make([]int64, max(0, len(cutoffs)-len(pos.Fronts)))...)[:len(cutoffs)]
	pos.More = true
	for i, cutoff := range cutoffs {
		done, read, err := c.scan(ctx, &pos.Fronts[i], math.MaxInt64, cutoff)
		if i == 0 || pos.SweepRead >= 0 {
			// The first pass stands for a sweep of the jobs below the
			// widest front, the latest cut-off's, which alone counts:
			// the others read parts of the same jobs again.
			pos.FrontRead += read
		}
		if err != nil || !done {
			return c.deleted, err
		}
	}
	if pos.SweepRead < 0 {
		// The first fronts' pass ended: it was the first sweep.
		pos.SweepRead, pos.FrontRead = pos.FrontRead, 0
	}
	if !pos.Sweeping {
		every := params.SweepEvery
		if every <= 0 {
			every = store.DefaultCleanSweepEvery
		}
		if since := now.Sub(pos.SweptAt); since >= every && (pos.FrontRead >= pos.SweepRead || since >= store.CleanSweepLimit*every) {
			pos.Sweeping, pos.Sweep, pos.SweptAt, pos.SweepRead, pos.FrontRead = true, 0, now, 0, 0
		}
	}
	if pos.Sweeping {
		done, read, err := c.scan(ctx, &pos.Sweep, slices.Max(pos.Fronts), time.Time{})
		pos.SweepRead += read
		if err != nil || !done {
			return c.deleted, err
		}
		pos.Sweeping = false
	}
	pos.More = false
	return c.deleted, nil
}

// cleaning is one call of JobDeleteFinished.
type cleaning struct {
	s       *Store
	p       *store.JobDeleteFinishedParams
	left    int // jobs left to read; negative: no bound
	deleted int
}

// cleanRow is a job as sqlCleanRead and sqlCleanLock read it.
type cleanRow struct {
	id                   int64
	state                kilntype.JobState
	kind, queue          string
	finalized, createdAt *time.Time
}

// scanCleanRow reads a row of sqlCleanRead or sqlCleanLock.
func scanCleanRow(row pgx.CollectableRow) (cleanRow, error) {
	var r cleanRow
	err := row.Scan(&r.id, &r.state, &r.kind, &r.queue, &r.finalized, &r.createdAt)
	return r, err
}

// due reports whether r is due for deletion under c's params.
func (c *cleaning) due(r *cleanRow) bool {
	if r.finalized == nil {
		return false
	}
	cutoff := c.p.Cutoff(r.state, r.kind, r.queue)
	return !cutoff.IsZero() && r.finalized.Before(cutoff)
}

// scan reads the jobs from *next up to (not including) to in ID order,
// chunk by chunk, deletes those due, and moves *next on after each chunk
// it deleted from. With a non-zero horizon, *next moves on only over jobs
// created before horizon: it stops after the last such job of a chunk,
// and the scan ends at a chunk that ends with a job created later. It
// reports whether it reached its end (rather than Max or c's read bound),
// and how many jobs it read.
func (c *cleaning) scan(ctx context.Context, next *int64, to int64, horizon time.Time) (bool, int64, error) {
	var read int64
	// The first chunk is small, and each full one doubles the next: a
	// front that waits at its cut-off reads few jobs per call.
	size := min(cleanFirstChunk, cleanChunk)
	for {
		limit := size
		size = min(2*size, cleanChunk)
		if c.left >= 0 {
			limit = min(limit, c.left)
		}
		if limit == 0 || c.deleted >= c.p.Max {
			return false, read, nil
		}
		rows, err := c.s.pool.Query(ctx, c.s.sql(sqlCleanRead), *next, to, limit)
		if err != nil {
			return false, read, fail("read jobs to clean", err)
		}
		chunk, err := pgx.CollectRows(rows, scanCleanRow)
		if err != nil {
			return false, read, fail("read jobs to clean", err)
		}
		read += int64(len(chunk))
		if c.left >= 0 {
			c.left -= len(chunk)
		}
		var (
			due   []int64
			after = *next // where the next chunk starts
			full  = false // Max reached inside the chunk
			young = false // the chunk ends with a job created after horizon
		)
		for _, r := range chunk {
			if !horizon.IsZero() && !r.createdAt.Before(horizon) {
				young = true
				continue
			}
			young = false
			if c.due(&r) {
				if c.deleted+len(due) == c.p.Max {
					full = true
					break
				}
				due = append(due, r.id)
			}
			after = r.id + 1
		}
		if len(due) > 0 {
			n, err := c.delete(ctx, due)
			if err != nil {
				return false, read, err
			}
			c.deleted += n
		}
		*next = after
		switch {
		case full:
			return false, read, nil
		case young, len(chunk) < limit:
			// The jobs created after horizon, or the end of the range.
			return true, read, nil
		}
	}
}

// delete locks the jobs of ids that are still due and deletes them, in
// one transaction, and returns how many it deleted.
func (c *cleaning) delete(ctx context.Context, ids []int64) (int, error) {
	var n int64
	err := c.s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, c.s.sql(sqlCleanLock), ids)
		if err != nil {
			return err
		}
		locked, err := pgx.CollectRows(rows, scanCleanRow)
		if err != nil {
			return err
		}
		doomed := make([]int64, 0, len(locked))
		for _, r := range locked {
			if c.due(&r) {
				doomed = append(doomed, r.id)
			}
		}
		if len(doomed) == 0 {
			return nil
		}
		tag, err := tx.Exec(ctx, c.s.sql(sqlDeleteFinished), doomed)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fail("delete finished jobs", err)
	}
	return int(n), nil
}
