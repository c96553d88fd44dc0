package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// JobFinishMany records the outcome of attempts in one transaction. Each job
// moves to params.State only if it is still running and leased by
// params.LeasedBy; otherwise (it was rescued, or it is not running) its
// update is skipped silently. The lease and any cancel request are cleared,
// LastError is set from a non-empty Attempt.Error, FinalizedAt is Now for
// final states and cleared otherwise, ScheduledAt is set for non-final
// states, and Attempt is decremented when UndoAttempt. Each Attempt is
// appended to its job's history whether or not the move applied, unless the
// job no longer exists. A State that a running job cannot move to fails the
// whole call. It returns the IDs of the jobs it moved.
func (s *Store) JobFinishMany(ctx context.Context, params []*store.JobFinishParams) ([]int64, error) {
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
	}
	if len(params) == 0 {
		return []int64{}, nil
	}
	// The completions of successful attempts that one process leased and
	// ran (nearly every finish) take a statement of their own, with three
	// arguments per job instead of ten; the rest take sqlFinishJobs.
	completing := countCompletions(params)
	var completions, finishes map[int]*sql.Stmt
	var err error
	if completing > 0 {
		if completions, err = s.batch(ctx, func(st *stmts) *batchStmt { return st.completeJobs }, completing); err != nil {
			return nil, fail("finish jobs", err)
		}
	}
	if completing < len(params) {
		if finishes, err = s.batch(ctx, func(st *stmts) *batchStmt { return st.finishJobs }, len(params)-completing); err != nil {
			return nil, fail("finish jobs", err)
		}
	}
	// Every size: how many attempts become rows is known only inside the
	// transaction.
	attemptInserts, err := s.batch(ctx, func(st *stmts) *batchStmt { return st.insertAttempts }, allBatchSizes)
	if err != nil {
		return nil, fail("finish jobs", err)
	}
	applied := make([]int64, 0, len(params))
	err = s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		buf := s.finishing.take()
		defer s.finishing.give(buf)
		buf.completing, buf.others = splitCompletions(buf.completing, buf.others, params)
		// The statements run under a context that cannot end, so that
		// modernc.org/sqlite starts no goroutine per statement to watch
		// it (interruptOnDone): each is bounded, by primary key and by its
		// chunk's size, and takes no lock that BEGIN IMMEDIATE did not.
		// ctx still bounds the wait for the writer, the BEGIN's wait for
		// the lock and the COMMIT, and ends the transaction between two
		// statements (database/sql rolls it back when ctx ends).
		stmtCtx := context.WithoutCancel(ctx)
		var err error
		if applied, err = buf.finishChunks(stmtCtx, tx, st, applied, buf.completing, completions, attemptInserts, completeArgs); err != nil {
			return err
		}
		if applied, err = buf.finishChunks(stmtCtx, tx, st, applied, buf.others, finishes, attemptInserts, finishArgs); err != nil {
			return err
		}
		return buf.counted.write(stmtCtx, tx.StmtContext(stmtCtx, st.countMoves))
	})
	if err != nil {
		return nil, fail("finish jobs", err)
	}
	return applied, nil
}

// completes reports whether sqlCompleteJobs can finish p, first being the
// first param it finishes (nil: p would be the first): the completion of a
// successful attempt (kept on the job's row) under a known claim (its
// AttemptedAt), with no error and no attempt given back, leased by and
// attempted on the same process as first.
func completes(p *store.JobFinishParams, first *store.JobFinishParams) bool {
	return keptOnRow(p) && !p.AttemptedAt.IsZero() && !p.UndoAttempt && p.Attempt.Error == "" &&
		(first == nil || p.LeasedBy == first.LeasedBy && p.Attempt.Server == first.Attempt.Server)
}

// countCompletions returns how many of params splitCompletions puts in
// its first slice.
func countCompletions(params []*store.JobFinishParams) int {
	var first *store.JobFinishParams
	n := 0
	for _, p := range params {
		if completes(p, first) {
			if first == nil {
				first = p
			}
			n++
		}
	}
	return n
}

// splitCompletions appends to completing the params that sqlCompleteJobs
// finishes (see completes), and to others the rest, each in params' order.
func splitCompletions(completing, others, params []*store.JobFinishParams) ([]*store.JobFinishParams, []*store.JobFinishParams) {
	var first *store.JobFinishParams
	for _, p := range params {
		if completes(p, first) {
			if first == nil {
				first = p
			}
			completing = append(completing, p)
		} else {
			others = append(others, p)
		}
	}
	return completing, others
}

// finishChunks runs the finish of params (sqlFinishJobs's or
// sqlCompleteJobs's, by size in bySize, with the arguments that args
// appends) in chunks of the prepared sizes, then records the outputs of
// the jobs it completed and the attempts that are not kept on their job's
// row. It appends the IDs of the jobs it moved to applied and counts their
// moves in b.counted.
func (b *finishBuffers) finishChunks(ctx context.Context, tx *sql.Tx, st *stmts, applied []int64,
	params []*store.JobFinishParams, bySize map[int]*sql.Stmt, attemptInserts map[int]*sql.Stmt,
	args func(b *finishBuffers, params []*store.JobFinishParams)) ([]int64, error) {
	for start, size := range chunks(len(params)) {
		chunk := params[start : start+size]
		clear(b.finish) // the previous chunk's values
		clear(b.attempts)
		b.finish, b.attempts = b.finish[:0], b.attempts[:0]
		args(b, chunk)
		before := len(applied)
		moved, err := tx.StmtContext(ctx, bySize[size]).QueryContext(ctx, b.finish...)
		if applied, err = appendFinished(applied, b.counted, moved, err); err != nil {
			return applied, fmt.Errorf("update jobs: %w", err)
		}
		// A successful attempt that completed its job is on the job's
		// row: only the others become attempt rows.
		clear(b.moved)
		for _, id := range applied[before:] {
			b.moved[id] = true
		}
		if err := setOutputs(ctx, tx, st, chunk, b.moved); err != nil {
			return applied, fmt.Errorf("record outputs: %w", err)
		}
		for _, p := range chunk {
			if b.moved[p.ID] && keptOnRow(p) {
				continue
			}
			a := &p.Attempt
			b.attempts = append(b.attempts, p.ID, int64(a.Attempt), micros(a.StartedAt),
				nullMicros(a.FinishedAt), a.Server, string(a.Outcome), store.CleanText(a.Error), store.CleanText(a.Trace))
		}
		if err := insertAttempts(ctx, tx, attemptInserts, b.attempts); err != nil {
			return applied, fmt.Errorf("record attempts: %w", err)
		}
	}
	return applied, nil
}

// completeArgs appends to b.finish sqlCompleteJobs's arguments for params
// (see splitCompletions): the lease holder and the server once, then each
// job's ID, claim time and time of the finish.
func completeArgs(b *finishBuffers, params []*store.JobFinishParams) {
	b.finish = append(b.finish, params[0].LeasedBy, params[0].Attempt.Server)
	for _, p := range params {
		b.finish = append(b.finish, p.ID, b.attemptedAt.box(micros(p.AttemptedAt)), b.now.box(micros(p.Now)))
	}
}

// finishArgs appends to b.finish sqlFinishJobs's arguments for params, ten
// per job.
func finishArgs(b *finishBuffers, params []*store.JobFinishParams) {
	for _, p := range params {
		var scheduledAt, finalizedAt, lastError any
		at := b.now.box(micros(p.Now))
		if p.State.Finalized() {
			finalizedAt = at
		} else {
			scheduledAt = micros(p.ScheduledAt)
		}
		if p.Attempt.Error != "" {
			lastError = store.CleanText(p.Attempt.Error)
		}
		var undo int64
		if p.UndoAttempt {
			undo = 1
		}
		var attemptedAtArg any
		if !p.AttemptedAt.IsZero() {
			attemptedAtArg = b.attemptedAt.box(micros(p.AttemptedAt))
		}
		var attemptedBy any
		if keptOnRow(p) {
			attemptedBy = b.server.box(p.Attempt.Server)
		}
		b.finish = append(b.finish, p.ID, b.leasedBy.box(p.LeasedBy), b.state.box(string(p.State)), scheduledAt, undo,
			finalizedAt, lastError, attemptedAtArg, at, attemptedBy)
	}
}

// finishBuffers are what JobFinishMany builds each batch's statements with:
// the params split by statement, their arguments (three or ten per job,
// eight per attempt row), the jobs moved and the counts of the moves. A
// Store keeps one set between calls (finishingBuffers), emptied: made for
// each call, the arguments alone were ~290 bytes per job. The boxed values
// are the last of a call: the values that repeat from one job to the next
// (the process, the state, the claim's and the write's times) are boxed
// once.
type finishBuffers struct {
	completing, others []*store.JobFinishParams
	finish, attempts   []any
	moved              map[int64]bool
	counted            moves

	leasedBy, state, server boxed[string]
	now, attemptedAt        boxed[int64]
}

// finishingBuffers lends a Store's finishBuffers to one JobFinishMany at a
// time. Calls are one at a time anyway (each holds the writer's only
// connection while it uses them); the lock says so to the race detector
// and to a reader. The zero value is ready.
type finishingBuffers struct {
	mu  sync.Mutex // held from take to give
	buf finishBuffers
}

// take locks the buffers and returns them, empty.
func (f *finishingBuffers) take() *finishBuffers {
	f.mu.Lock()
	if f.buf.moved == nil {
		f.buf.moved, f.buf.counted = make(map[int64]bool), make(moves, 4)
	}
	return &f.buf
}

// give empties b (which take returned, with the slices the call grew it
// to) of the values a call left in it, and unlocks it. The map holds a
// chunk's jobs at most (batchSizes[0]).
func (f *finishingBuffers) give(b *finishBuffers) {
	clear(b.completing)
	clear(b.others)
	clear(b.finish)
	clear(b.attempts)
	b.completing, b.others, b.finish, b.attempts = b.completing[:0], b.others[:0], b.finish[:0], b.attempts[:0]
	clear(b.moved)
	clear(b.counted)
	b.leasedBy, b.state, b.server = boxed[string]{}, boxed[string]{}, boxed[string]{}
	b.now, b.attemptedAt = boxed[int64]{}, boxed[int64]{}
	f.mu.Unlock()
}

// boxed holds a value boxed in an interface, as a statement's argument,
// for the next equal value to reuse: each box of an int64 or a string is
// an allocation, and a batch's rows mostly repeat the row before's.
type boxed[T comparable] struct {
	v T
	i any // v in an interface; nil until the first box
}

// box returns v in an interface, the one of the previous call if v equals
// its value.
func (b *boxed[T]) box(v T) any {
	if b.i == nil || b.v != v {
		b.v, b.i = v, v
	}
	return b.i
}

// keptOnRow reports whether p's attempt is kept on its job's row when p
// moves the job: a successful attempt that completes it.
func keptOnRow(p *store.JobFinishParams) bool {
	return p.State == kilntype.JobStateCompleted && p.Attempt.Outcome == kilntype.AttemptSucceeded
}

// insertAttempts runs the attempt inserts for args, 8 values per attempt,
// in chunks of the prepared sizes.
func insertAttempts(ctx context.Context, tx *sql.Tx, bySize map[int]*sql.Stmt, args []any) error {
	for start, size := range chunks(len(args) / 8) {
		if _, err := tx.StmtContext(ctx, bySize[size]).ExecContext(ctx, args[start*8:(start+size)*8]...); err != nil {
			return err
		}
	}
	return nil
}

// queryIDs reads a one-column result of IDs.
func queryIDs(rows *sql.Rows, err error) ([]int64, error) {
	return appendIDs(nil, rows, err)
}

// appendIDs appends to ids a one-column result of IDs.
func appendIDs(ids []int64, rows *sql.Rows, err error) ([]int64, error) {
	if err != nil {
		return ids, err
	}
	defer rows.Close()
	var id int64 // one for every row: Scan's pointer makes it escape to the heap
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// appendFinished appends to ids the ID of each row of rows, sqlFinishJobs's
// (ID, queue, new state), and records in counted each job's move from
// running to its new state. It returns err, if not nil, first.
func appendFinished(ids []int64, counted moves, rows *sql.Rows, err error) ([]int64, error) {
	if err != nil {
		return ids, err
	}
	defer rows.Close()
	var (
		id           int64 // one for every row: Scan's pointer makes it escape to the heap
		queue, state string
	)
	for rows.Next() {
		if err := rows.Scan(&id, &queue, &state); err != nil {
			return nil, err
		}
		ids = append(ids, id)
		counted.move(queue, "running", state, 1, true)
	}
	return ids, rows.Err()
}

// sqlLeaseRenew extends to ?1 the leases of the running jobs whose IDs are in
// the JSON array ?2 and that are leased by ?3.
const sqlLeaseRenew = `UPDATE kiln_job SET lease_expires_at = ?1
WHERE id IN (SELECT value FROM json_each(?2)) AND state = 'running' AND leased_by = ?3
RETURNING id`

// JobLeaseRenew sets LeaseExpiresAt of those of params.IDs that are running
// and leased by params.LeasedBy, and returns the IDs it renewed, in no
// particular order. An ID missing from the result was taken back (rescued,
// finished by another path, or deleted).
func (s *Store) JobLeaseRenew(ctx context.Context, params *store.JobLeaseRenewParams) ([]int64, error) {
	renewed := make([]int64, 0, len(params.IDs))
	if len(params.IDs) == 0 {
		return renewed, nil
	}
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		rows, err := tx.StmtContext(ctx, st.leaseRenew).QueryContext(ctx,
			micros(params.LeaseExpiresAt), jsonIDs(params.IDs), params.LeasedBy)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			renewed = append(renewed, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fail("renew leases", err)
	}
	return renewed, nil
}

// JobListCancelRequested returns the IDs of the running jobs leased by
// leasedBy that have a cancel request, in ID order. It reads from the reader
// pool and never waits for writers.
func (s *Store) JobListCancelRequested(ctx context.Context, params *store.JobListCancelRequestedParams) ([]int64, error) {
	leasedBy := params.LeasedBy
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM kiln_job
		WHERE state = 'running' AND cancel_requested_at IS NOT NULL AND leased_by = ?
		ORDER BY id`, leasedBy)
	if err != nil {
		return nil, fail("list cancel requests", err)
	}
	defer rows.Close()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fail("list cancel requests", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list cancel requests", err)
	}
	return ids, nil
}
