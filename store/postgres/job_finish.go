package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlFinishJobs records a batch of attempt outcomes, one statement for the
// whole batch. Row i of the arrays moves running job $1[i], if leased by
// $2[i] under the claim that set attempted_at to $15[i] (NULL: any claim),
// to state $3[i]: $4[i] is the new ScheduledAt (NULL keeps it), $5[i] gives
// the attempt back, $6[i] is the FinalizedAt (NULL for non-final states),
// $7[i] the error to keep as LastError (NULL keeps the previous one) and
// $16[i] the time of the finish. A job with a cancel request that would be
// retried or put back becomes cancelled instead, finalized at $16[i]. The
// attempts $8 to $14 (of jobs $1) are appended to the history of the jobs
// that still exist, except those already recorded (a retried call whose
// first try committed unbeknown to its caller). A successful attempt that
// completes its job is recorded on the job's row instead (attempted_by
// becomes its server $11[i]; its start is the claim's attempted_at, its end
// finalized_at; see migration 009): the common outcome writes no attempt
// row. It returns the IDs of
// the moved jobs.
//
// Only the attempts of jobs that this statement did not move are looked
// for among the recorded ones (rows, and a completed job's own record): a
// job that moved was still running under the attempt's claim, so no
// earlier call recorded its outcome. The usual finish thus reads nothing
// from kiln_job_attempt (moved's IDs are hashed once).
//
// parents first locks the jobs, in ID order, FOR NO KEY UPDATE (the lock
// the UPDATE needs; a claim skips a locked job, and JobInsertMany's FOR KEY
// SHARE on parents does not wait for it) and drops those deleted
// meanwhile: a locked job cannot be deleted before the transaction ends, so
// the attempts' foreign key check cannot fail. Every statement that locks
// several running jobs (this one, sqlCompleteJobs, JobLeaseRenew and a bulk
// cancel's sqlBulkCancelRequest) locks them in ID order, so two of them
// never deadlock, whatever order their batches list the jobs in. moved's one-time filter reads parents whole before the
// UPDATE reads its first row, so every job is locked before any is updated
// (locking a row that the same statement already updated would skip it);
// the UPDATE itself reads f and finds each job by the primary key. (Driving the UPDATE by an array of
// parents' IDs instead made PostgreSQL's generic plan read every running
// job's index entry, dead versions included, and rescan f for each: twice
// the CPU per job.)
const sqlFinishJobs = `WITH f AS (
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::boolean[],
		$6::timestamptz[], $7::text[], $15::timestamptz[], $16::timestamptz[],
		$11::text[], $12::text[])
		AS f(id, leased_by, state, scheduled_at, undo, finalized_at, last_error, attempted_at, now,
			server, outcome)
),
parents AS MATERIALIZED (
	SELECT id FROM {s}.kiln_job WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE
),
moved AS (
	UPDATE {s}.kiln_job AS j SET
		state = CASE WHEN j.cancel_requested_at IS NOT NULL AND f.state IN ('retryable', 'scheduled', 'available')
			THEN 'cancelled' ELSE f.state END,
		finalized_at = CASE WHEN j.cancel_requested_at IS NOT NULL AND f.state IN ('retryable', 'scheduled', 'available')
			THEN f.now ELSE f.finalized_at END,
		scheduled_at = coalesce(f.scheduled_at, j.scheduled_at),
		attempt = CASE WHEN f.undo THEN greatest(j.attempt - 1, 0) ELSE j.attempt END,
		last_error = coalesce(f.last_error, j.last_error),
		attempted_by = CASE WHEN f.outcome = 'succeeded' AND f.state = 'completed' THEN f.server END,
		leased_by = NULL, lease_expires_at = NULL, cancel_requested_at = NULL
	FROM f
	WHERE (SELECT count(*) FROM parents) >= 0
		AND j.id = f.id AND j.state = 'running' AND j.leased_by = f.leased_by
		AND (f.attempted_at IS NULL OR j.attempted_at = f.attempted_at)
	RETURNING j.id, j.queue, j.state
),
counted AS (` + sqlCountFinished + `),
attempts AS (
	INSERT INTO {s}.kiln_job_attempt (job_id, attempt, started_at, finished_at, server, outcome, error, trace)
	SELECT a.job_id, a.attempt, a.started_at, a.finished_at, a.server, a.outcome, a.error, a.trace
	FROM unnest($1::bigint[], $8::integer[], $9::timestamptz[], $10::timestamptz[], $11::text[],
		$12::text[], $13::text[], $14::text[]) WITH ORDINALITY
		AS a(job_id, attempt, started_at, finished_at, server, outcome, error, trace, ord)
	WHERE a.job_id IN (SELECT id FROM parents)
		AND CASE WHEN a.job_id IN (SELECT id FROM moved) THEN a.outcome <> 'succeeded'
			ELSE NOT EXISTS (SELECT 1 FROM {s}.kiln_job_attempt AS x
				WHERE x.job_id = a.job_id AND x.attempt = a.attempt AND x.started_at = a.started_at
					AND x.finished_at IS NOT DISTINCT FROM a.finished_at AND x.server = a.server AND x.outcome = a.outcome)
			AND NOT coalesce((SELECT r.state = 'completed' AND r.attempted_by = a.server
				AND r.attempt = a.attempt AND r.attempted_at = a.started_at AND a.outcome = 'succeeded'
				FROM {s}.kiln_job AS r WHERE r.id = a.job_id), false) END
	ORDER BY a.ord
)
SELECT id FROM moved`

// sqlCompleteJobs is sqlFinishJobs for the common outcome alone: attempts
// that succeeded and complete their job, which write no attempt row. Row i
// of the arrays completes running job $1[i] if leased by $2[i] under the
// claim that set attempted_at to $3[i] (NULL: any claim), finalized at
// $4[i] and attempted by server $5[i]; it returns the IDs of the jobs it
// completed. It sets what sqlFinishJobs sets for such an outcome, and reads
// and writes nothing else (no attempt table, five arrays instead of
// sixteen).
//
// A lease holder or server that every job of the batch shares (a
// process's completer finishes its own jobs) may be sent as an array of
// one element: the rows past its end read NULL from the unnest, which
// coalesce replaces by that element, as sqlInsertJobsShared does for its
// times. A full array has no NULL (Go strings), which coalesce leaves as
// they are.
//
// It has no locking pass of its own: the UPDATE locks each job as it
// updates it, in the order its plan reads them, and the one plan it is
// left locks them in the order of $1, which completeJobs sorts by ID
// (every statement that changes several running jobs locks them in ID
// order, so that a finish and a renewal or bulk cancel of the same jobs
// never deadlock). That plan is a nested loop that reads f, the batch, in
// its order, and looks each job up by primary key; every other way to
// read kiln_job is taken away:
//   - the join's key is j.id = ANY(ARRAY[f.id]), which can look a job up
//     (a parameterized index scan) but cannot be merged on: with j.id =
//     f.id, the primary key read whole in ID order is a candidate for a
//     merge, and the planner chose it as the outer side (every job read
//     by every finish) on a table of 300 analyzed jobs;
//   - the state is checked on an expression of it (concatenated with the
//     empty string), from which no partial index's predicate follows: the
//     planner could otherwise read the whole of kiln_job_running (every
//     running job's entry, dead versions included), its
//     choice on a table without statistics;
//   - completeJobs sends sqlLookupSettings before it, in the same
//     implicit transaction, which turns off sequential and bitmap scans
//     (without them, a hash join over a sequential scan of kiln_job, in
//     the table's physical order, on 300 analyzed jobs).
//
// TestCompletePlan checks that plan on tables of 0 to 100,000 jobs, with
// and without statistics, custom and generic, and that without either
// means PostgreSQL plans otherwise. The locking pass this replaced (a CTE
// locking the jobs FOR NO KEY UPDATE in ID order before the UPDATE) read
// each job twice and wrote a WAL record more per job (docs/benchmarks.md,
// "Database work per finish (issue 11, 2026-12-05 evening)").
const sqlCompleteJobs = `WITH f AS (
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[])
		AS f(id, leased_by, attempted_at, finalized_at, server)
),
moved AS (
	UPDATE {s}.kiln_job AS j SET
		state = 'completed', finalized_at = f.finalized_at, attempted_by = coalesce(f.server, ($5::text[])[1]),
		leased_by = NULL, lease_expires_at = NULL, cancel_requested_at = NULL
	FROM f
	WHERE j.id = ANY(ARRAY[f.id]) AND j.state || '' = 'running'
		AND j.leased_by = coalesce(f.leased_by, ($2::text[])[1])
		AND (f.attempted_at IS NULL OR j.attempted_at = f.attempted_at)
	RETURNING j.id, j.queue
),
counted AS (` + sqlCountCompleted + `)
SELECT id FROM moved`

// sqlLookupSettings turns off sequential and bitmap scans for the rest of
// its transaction (set_config's is_local), which leaves sqlCompleteJobs and
// sqlLeaseRenew the one plan each that locks running jobs in ID order (a
// lookup by primary key of each job, in the order of a sorted batch):
// completeJobs and JobLeaseRenew send it and their statement in one batch,
// one round trip, whose implicit transaction ends the settings
// (batchQuery, as the claim and JobRescueExpired send theirs). A prepared
// statement's generic plan is planned under them too: nothing else runs
// these statements. The plain claim sends it before sqlClaimPrelude and
// sqlClaimPlain, for the same reasons (claim.runPlain).
//
// It also sets plan_cache_mode to force_generic_plan, as the claim's
// settings do: both statements are then planned once per connection.
// Otherwise PostgreSQL's plan cache plans each call for its parameters
// whenever such a custom plan costs less than the generic one, as it does
// for a batch of one job on an analyzed table: an idle queue's finish then
// spent 0.2–0.5 ms planning and 0.1–0.2 ms running (TestFinishPlansOnce).
const sqlLookupSettings = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
	set_config('plan_cache_mode', 'force_generic_plan', true)`

// sqlCountFinished is the body of the counted CTE of sqlFinishJobs: it
// appends the counter deltas of the jobs that its moved CTE returns (id,
// queue, and the state it moved them to; they were all running) to
// kiln_job_count_delta, one row per queue and state
// changed. Each job counts one job fewer in running and one more, and one
// finished attempt, in its new state, as migration 007's trigger counted
// them (countMoves for a finish, spelled out: the hottest statements skip
// its grouping by the state before and its HAVING).
const sqlCountFinished = `
	INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
	SELECT m.queue, d.state, sum(d.jobs), sum(d.finished)
	FROM moved AS m CROSS JOIN LATERAL (VALUES (m.state, 1, 1), ('running', -1, 0)) AS d(state, jobs, finished)
	GROUP BY m.queue, d.state
`

// sqlCountCompleted is the body of sqlCompleteJobs' counted CTE, which
// sqlCountFinished would be for jobs that all moved from running to
// completed: it counts moved's jobs per queue first, then appends two rows
// per queue (one more completed job and finished attempt each, one running
// job fewer each), so that it groups one row per job instead of two.
const sqlCountCompleted = `
	INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
	SELECT q.queue, d.state, d.sign * q.n, CASE WHEN d.sign > 0 THEN q.n ELSE 0 END
	FROM (SELECT queue, count(*) AS n FROM moved GROUP BY queue) AS q
		CROSS JOIN (VALUES ('completed', 1), ('running', -1)) AS d(state, sign)
`

// completesOnly reports whether every outcome of params is a successful
// attempt that completes its job, which sqlCompleteJobs writes.
func completesOnly(params []*store.JobFinishParams) bool {
	for _, p := range params {
		if p == nil || p.State != kilntype.JobStateCompleted || p.UndoAttempt ||
			p.Attempt.Outcome != kilntype.AttemptSucceeded || p.Attempt.Error != "" {
			return false
		}
	}
	return true
}

// completeJobs runs sqlCompleteJobs for params (completesOnly), and returns
// the IDs it completed and the params of the jobs it did not: those were
// not running under the attempt's claim any more (rescued, claimed again,
// deleted, or completed by an earlier try of the same call), and go
// through sqlFinishJobs, which records their attempts as history. The rows
// are sent in ID order, the order the statement locks them in.
func (s *Store) completeJobs(ctx context.Context, params []*store.JobFinishParams) ([]int64, []*store.JobFinishParams, error) {
	n := len(params)
	a := s.completeArgs.get()
	defer s.completeArgs.put(a)
	a.size(n)
	sorted, ids, leasedBy, servers := a.sorted, a.ids, a.leasedBy, a.servers
	attemptedAt, finalizedAt, claimedAt := a.attemptedAt, a.finalizedAt, a.claimedAt
	copy(sorted, params)
	slices.SortFunc(sorted, func(a, b *store.JobFinishParams) int { return cmp.Compare(a.ID, b.ID) })
	for i, p := range sorted {
		ids[i], leasedBy[i], servers[i], finalizedAt[i] = p.ID, p.LeasedBy, p.Attempt.Server, truncate(p.Now)
		attemptedAt[i] = nil
		if !p.AttemptedAt.IsZero() {
			claimedAt[i] = truncate(p.AttemptedAt)
			attemptedAt[i] = &claimedAt[i]
		}
	}
	stmt, args := sqlCompleteJobs, []any{arrayArg[int8Array](s.describes, ids),
		arrayArg[textArray](s.describes, oneIfShared(leasedBy, sameText)), arrayArg[timestamptzPtrArray](s.describes, attemptedAt),
		arrayArg[timestamptzArray](s.describes, finalizedAt), arrayArg[textArray](s.describes, oneIfShared(servers, sameText))}
	if out, ok := outputs(sorted); ok {
		stmt, args = sqlCompleteJobsOutput, append(args, out)
	}
	moved := make([]int64, 0, n)
	var id int64
	dest := []any{&id} // one per batch: Scan's variadic slice would escape for every row
	err := batchQuery(ctx, s.pool, []batchStatement{{sql: sqlLookupSettings}}, s.sql(stmt), args,
		func(rows pgx.Rows) error {
			err := rows.Scan(dest...)
			moved = append(moved, id)
			return err
		})
	if err != nil {
		return nil, nil, err
	}
	if len(moved) == n {
		return moved, nil, nil
	}
	done := make(map[int64]bool, len(moved))
	for _, id := range moved {
		done[id] = true
	}
	var rest []*store.JobFinishParams
	for _, p := range params {
		if !done[p.ID] {
			rest = append(rest, p)
		}
	}
	return moved, rest, nil
}

// completeArgs holds the arrays that completeJobs sends, kept in the Store's
// completeArgsList between batches: pgx is done with them once the batch is
// read, and making them anew was ~100 bytes per job (7 slices per batch).
// A pgx QueryTracer of the pool sees them as the statement's Args: one that
// keeps Args after the call returns (an asynchronous exporter) must copy
// them, since the next batch writes over them.
type completeArgs struct {
	sorted      []*store.JobFinishParams
	ids         []int64
	leasedBy    []string
	servers     []string
	attemptedAt []*time.Time
	finalizedAt []time.Time
	claimedAt   []time.Time // what attemptedAt points to: one allocation, not one per job
}

// completeArgsList keeps up to keptCompleteArgs completeArgs of at most
// maxKeptCompleteArgs jobs each (the completer's batches are of up to
// 500): a free list of its own rather than a sync.Pool, so that what it
// keeps does not depend on the GC's cycles (a pool is emptied after two).
// Its zero value is empty; it is safe for concurrent use.
type completeArgsList struct {
	mu   sync.Mutex // guards kept
	kept []*completeArgs
}

const (
	keptCompleteArgs    = 4
	maxKeptCompleteArgs = 1000
)

// get returns kept arrays, or new ones.
func (l *completeArgsList) get() *completeArgs {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.kept)
	if n == 0 {
		return new(completeArgs)
	}
	a := l.kept[n-1]
	l.kept[n-1] = nil
	l.kept = l.kept[:n-1]
	return a
}

// put clears what a's arrays point to (the params, the texts) and keeps
// them for a later get, unless they are too long or enough are kept.
func (l *completeArgsList) put(a *completeArgs) {
	clear(a.sorted)
	clear(a.leasedBy)
	clear(a.servers)
	clear(a.attemptedAt)
	if cap(a.ids) > maxKeptCompleteArgs {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.kept) < keptCompleteArgs {
		l.kept = append(l.kept, a)
	}
}

// size makes each array n long, reallocating those shorter than n.
func (a *completeArgs) size(n int) {
	a.sorted = resize(a.sorted, n)
	a.ids = resize(a.ids, n)
	a.leasedBy = resize(a.leasedBy, n)
	a.servers = resize(a.servers, n)
	a.attemptedAt = resize(a.attemptedAt, n)
	a.finalizedAt = resize(a.finalizedAt, n)
	a.claimedAt = resize(a.claimedAt, n)
}

// resize returns s with length n, reusing its array if it has room.
func resize[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, n)
	}
	return s[:n]
}

// JobFinishMany records the outcome of attempts with one statement. Each job
// moves to params.State only if it is still running and leased by
// params.LeasedBy under the claim of params.AttemptedAt (zero: any claim);
// otherwise (it was rescued, claimed again, or it is not running) its
// update is skipped silently. A job whose cancel was requested and that
// would become retryable, scheduled or available becomes cancelled instead,
// finalized at Now. A successful attempt that completes its job is kept on
// the job's row, not as an attempt row (see store.Store.JobFinishMany);
// JobAttemptList lists it last. The lease and any cancel request are cleared,
// LastError is set from a non-empty Attempt.Error, FinalizedAt is Now for
// final states and cleared otherwise, ScheduledAt is set for non-final
// states, and Attempt is decremented when UndoAttempt. Each Attempt is
// appended to its job's history whether or not the move applied, unless the
// job no longer exists or the same attempt (job, number, start, finish,
// server and outcome) is already recorded: a call retried after a lost
// answer, whose first try did commit, records nothing twice. A State that a
// running job cannot move to fails the
// whole call. It returns the IDs of the jobs it moved, in no particular
// order.
func (s *Store) JobFinishMany(ctx context.Context, params []*store.JobFinishParams) ([]int64, error) {
	if len(params) == 0 || !completesOnly(params) {
		return s.finishJobs(ctx, params)
	}
	// The common batch: one narrower statement; only the jobs it could not
	// complete (rare) go through the whole one.
	done, rest, err := s.completeJobs(ctx, params)
	if err != nil {
		return nil, fail("finish jobs", err)
	}
	if len(rest) == 0 {
		return done, nil
	}
	more, err := s.finishJobs(ctx, rest)
	if err != nil {
		return nil, err
	}
	return append(done, more...), nil
}

// finishJobs is JobFinishMany with sqlFinishJobs, for any outcomes.
func (s *Store) finishJobs(ctx context.Context, params []*store.JobFinishParams) ([]int64, error) {
	n := len(params)
	var (
		ids                      = make([]int64, n)
		leasedBy, states         = make([]string, n), make([]string, n)
		scheduledAt, finalizedAt = make([]*time.Time, n), make([]*time.Time, n)
		undo                     = make([]bool, n)
		attemptedAt, nows        = make([]*time.Time, n), make([]time.Time, n)
		lastErrors               = make([]*string, n)
		attemptNums              = make([]int32, n)
		startedAt, finishedAt    = make([]time.Time, n), make([]*time.Time, n)
		servers, outcomes        = make([]string, n), make([]string, n)
		attemptErrors, traces    = make([]string, n), make([]string, n)
	)
	for i, p := range params {
		if p == nil {
			return nil, fail("finish jobs", fmt.Errorf("param %d is nil", i))
		}
		switch p.State {
		case kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded,
			kilntype.JobStateRetryable, kilntype.JobStateScheduled, kilntype.JobStateAvailable:
		default:
			return nil, fail("finish jobs", fmt.Errorf("job %d: cannot finish to state %q", p.ID, p.State))
		}
		ids[i], leasedBy[i], states[i], undo[i] = p.ID, p.LeasedBy, string(p.State), p.UndoAttempt
		if p.State.Finalized() {
			t := truncate(p.Now)
			finalizedAt[i] = &t
		} else {
			t := truncate(p.ScheduledAt)
			scheduledAt[i] = &t
		}
		lastErrors[i] = nullString(store.CleanText(p.Attempt.Error))
		nows[i] = truncate(p.Now)
		if !p.AttemptedAt.IsZero() {
			t := truncate(p.AttemptedAt)
			attemptedAt[i] = &t
		}
		a := &p.Attempt
		attemptNums[i], startedAt[i] = int32(a.Attempt), truncate(a.StartedAt)
		if a.FinishedAt != nil {
			t := truncate(*a.FinishedAt)
			finishedAt[i] = &t
		}
		servers[i], outcomes[i], attemptErrors[i], traces[i] = a.Server, string(a.Outcome), store.CleanText(a.Error), store.CleanText(a.Trace)
	}
	if n == 0 {
		return []int64{}, nil
	}
	args := []any{ids, leasedBy, states, scheduledAt, undo,
		finalizedAt, lastErrors, attemptNums, startedAt, finishedAt, servers,
		outcomes, attemptErrors, traces, attemptedAt, nows}
	stmt := sqlFinishJobs
	if out, ok := outputs(params); ok {
		stmt, args = sqlFinishJobsOutput, append(args, out)
	}
	rows, err := s.pool.Query(ctx, s.sql(stmt), args...)
	if err != nil {
		return nil, fail("finish jobs", err)
	}
	moved, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fail("finish jobs", err)
	}
	if moved == nil {
		moved = []int64{}
	}
	return moved, nil
}

// sqlLeaseRenew extends to $1 (when $1 is NULL, to $4 after now(), the
// database's clock) the leases of the running jobs whose IDs are in $2 and
// that are leased by $3. It locks them in ID order, as every statement that
// changes several running jobs does (so that a renewal and a finish of the
// same jobs cannot deadlock), without a locking pass: JobLeaseRenew sends
// sqlLookupSettings before it, which leaves it one plan, a scan of the
// primary key for the IDs of $2, which PostgreSQL sorts and reads in
// order; the state is checked on an expression of it, as sqlCompleteJobs
// checks it, so that no partial index (kiln_job_running) can be read
// instead. TestCompletePlan checks the plan. The update
// changes no indexed column, so it can be HOT.
const sqlLeaseRenew = `UPDATE {s}.kiln_job SET lease_expires_at = coalesce($1::timestamptz, now() + $4::interval)
WHERE id = ANY($2::bigint[]) AND state || '' = 'running' AND leased_by = $3
RETURNING id`

// JobLeaseRenew extends the leases of those of params.IDs that are running
// and leased by params.LeasedBy to params.LeaseExpiresAt - params.Now after
// the database's now() (to params.LeaseExpiresAt with
// Options.CallerClock), and returns the IDs it renewed, in no particular
// order. An ID missing from the result was taken back (rescued, finished
// by another path, or deleted). Without CallerClock, a zero params.Now is
// an error: the leases' length would be unknown.
func (s *Store) JobLeaseRenew(ctx context.Context, params *store.JobLeaseRenewParams) ([]int64, error) {
	if len(params.IDs) == 0 {
		return []int64{}, nil
	}
	if !s.callerClock && params.Now.IsZero() {
		return nil, fail("renew leases", errors.New("params.Now is zero: the leases' length is LeaseExpiresAt - Now"))
	}
	length := truncate(params.LeaseExpiresAt).Sub(truncate(params.Now))
	renewed := make([]int64, 0, len(params.IDs))
	// One destination for every row: a variable and a Scan argument list
	// of each row's own would cost two allocations per job renewed.
	var id int64
	dest := []any{&id}
	err := batchQuery(ctx, s.pool, []batchStatement{{sql: sqlLookupSettings}}, s.sql(sqlLeaseRenew),
		[]any{s.callerTime(params.LeaseExpiresAt), arrayArg[int8Array](s.describes, params.IDs), params.LeasedBy, length}, func(rows pgx.Rows) error {
			err := rows.Scan(dest...)
			renewed = append(renewed, id)
			return err
		})
	if err != nil {
		return nil, fail("renew leases", err)
	}
	return renewed, nil
}
