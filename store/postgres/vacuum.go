package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kilnjobs/kiln/store"
)

// sqlVacuumState reads what JobVacuum decides on: kiln_job's dead and live
// row versions as the cumulative statistics count them (the server's
// counters, which the backends report within a second or so of their
// transactions: no table is read), and the available jobs from the
// counters' folded totals (kiln_job_count, a row per queue and state),
// which lag the jobs by at most the stats folder's interval (2 s): the
// deltas not folded yet are left out, since their table, which the fold
// empties, holds the dead rows of every fold since its last vacuum (about
// 50 pages after a 100,000-job burn-down, read at every call).
const sqlVacuumState = `SELECT pg_stat_get_dead_tuples(c.oid), pg_stat_get_live_tuples(c.oid),
	(SELECT coalesce(sum(jobs), 0)::bigint FROM {s}.kiln_job_count WHERE state = 'available')
FROM pg_class AS c WHERE c.oid = to_regclass($1)`

// sqlVacuum vacuums kiln_job and its indexes. SKIP_LOCKED: a VACUUM
// already running (autovacuum's, or another process's) makes it return at
// once rather than wait. INDEX_CLEANUP ON: the index entries of dead rows
// are what a claim walks past, so they are removed even when few heap
// pages hold dead rows. TRUNCATE OFF: returning the empty pages at the
// table's end would take an ACCESS EXCLUSIVE lock, which claims would wait
// for. PARALLEL 0: one backend, so that on a small server the vacuum
// leaves the other cores to the jobs' statements.
const sqlVacuum = `VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON, TRUNCATE OFF, PARALLEL 0) {s}.kiln_job`

// vacuumDeadPerLive and vacuumDeadPerAvailable are JobVacuum's ratios: it
// vacuums once the dead row versions are at least a tenth of the live ones
// and at least a hundred times the available jobs. At ten times, a
// burn-down of 100,000 jobs was vacuumed twice, once with about a sixth
// of its jobs left (each job leaves two dead versions): that VACUUM read
// ~32,000 buffers and wrote ~16,000 WAL records beside the burn-down's
// claims and finishes, for walks of the claim index that a burn-down's
// claims of 100 or more jobs each amortize.
const (
	vacuumDeadPerLive      = 0.1
	vacuumDeadPerAvailable = 100
)

// JobVacuum runs VACUUM on kiln_job when many jobs have run since the
// last vacuum while few wait: when the table holds at least
// params.MinDead dead row versions, at least a tenth as many as live ones,
// and a hundred times as many as available jobs. Otherwise, and always with
// Options.NoVacuum, it only reads those numbers (one statement, no table
// read).
//
// Why: each job that runs leaves the entry of its available version in
// kiln_job_claim_kind (and of its running version in
// kiln_job_running) until a VACUUM removes it. A claim reads that
// index from the front of its queue and kind's range, so after a burn-down
// of 100,000 jobs every claim of an idle queue, and every poll, read the
// ~720 leaf pages of dead entries before the first live one (issue 11:
// 736 buffers per idle claim against 20 after a VACUUM, docs/benchmarks.md
// "Idle latency (issue 11, 2026-12-05 evening)"). Marking the entries dead
// (which the claim's index scan does) does not remove them: only VACUUM
// does. Autovacuum, where it is on, vacuums kiln_job once its dead rows
// pass 20 % of its rows (autovacuum_vacuum_scale_factor), which a table
// that keeps a week of completed jobs reaches late, and not at all where
// it is off; the condition here (10 % of the live rows, and the queue
// nearly empty) runs it when the claims' walk is longest relative to
// their work, after a burn-down, rather than in the middle of one.
//
// PostgreSQL removes only the rows that no snapshot may still see: while a
// transaction older than the dead rows runs (in any session of the
// database), a VACUUM leaves them. JobVacuum therefore counts out the dead
// rows that its last vacuum left (the statistics' count right after it):
// the next vacuum waits until as many more have piled up as the first
// needed, rather than coming back every call while that transaction runs.
//
// The VACUUM runs on the connection of one of the Store's subscriptions
// (Listen), between two of its waits for notifications, so that the
// process holds no more connections than its pool and that one (2 by
// default; issue 11's scale goal); the notifications that arrive
// meanwhile are handed on after it, and the subscription tells its
// receiver so before the VACUUM (store.Notification.Held, then Resumed):
// the client then wakes its own fetchers for the jobs it enqueues itself
// instead of waiting for their notification, and the process's polls
// (FetchPollInterval, CancelPollInterval) find the other processes' jobs
// meanwhile. A VACUUM of a
// table of millions of jobs takes minutes (the maintenance leader bounds
// it by maintenance.VacuumTimeout, an hour); a VACUUM cut short by its
// context (the leader deposed or stopping) closes that connection, and
// the subscription reconnects and reports that notifications may have
// been lost, as after any failure. Without a
// subscription that has a connection (none open, one reconnecting, behind
// PgBouncer, or a pool passed to New, whose notice handler JobVacuum
// cannot share), it runs on a connection of its own, opened for it and
// closed after. Either way the pool's connections, one by default, stay
// free for claims and finishes. It runs with SKIP_LOCKED, INDEX_CLEANUP ON, TRUNCATE OFF and
// PARALLEL 0 (see sqlVacuum). It needs the right to vacuum kiln_job (its
// owner's): when the server skips the table with a warning (a role that
// does not own it), JobVacuum returns an error saying so and never tries
// again in this Store. Only the maintenance leader calls JobVacuum.
func (s *Store) JobVacuum(ctx context.Context, params *store.JobVacuumParams) (store.JobVacuumResult, error) {
	r, err := s.vacuumState(ctx)
	if err != nil {
		return r, fail("vacuum jobs", err)
	}
	left := s.vacuumLeft.Load()
	if r.Dead < left { // a vacuum (autovacuum's, or another leader's) removed some
		left = r.Dead
		s.vacuumLeft.Store(left)
	}
	counted := r
	counted.Dead -= left
	if s.noVacuum || s.vacuumRefused.Load() || !vacuumDue(counted, params.MinDead) {
		return r, nil
	}
	var skipped bool
	var warning string
	onNotice := func(n *pgconn.Notice) {
		switch {
		case n.Code == "55P03": // lock_not_available: SKIP_LOCKED skipped the table, which another VACUUM holds
			skipped = true
		case n.Severity == "WARNING": // such as "only table or database owner can vacuum it"
			warning = n.Message
		}
	}
	vacuum := func(ctx context.Context, conn *pgx.Conn) error {
		if s.vacuumHook != nil {
			s.vacuumHook(conn.PgConn().PID())
		}
		_, err := conn.Exec(ctx, s.sql(sqlVacuum))
		return err
	}
	err = errNotListening
	if s.notices != nil {
		err = s.subs.exec(ctx, func(ctx context.Context, conn *pgx.Conn) error {
			s.notices.handlers.Store(conn.PgConn(), onNotice)
			defer s.notices.handlers.Delete(conn.PgConn())
			return vacuum(ctx, conn)
		})
	}
	if errors.Is(err, errNotListening) {
		err = s.vacuumAlone(ctx, onNotice, vacuum)
	}
	if err != nil {
		return r, fail("vacuum jobs", err)
	}
	if warning != "" {
		s.vacuumRefused.Store(true)
		return r, fail("vacuum jobs", fmt.Errorf("the server skipped kiln_job (%s): JobVacuum will not try again (Options.NoVacuum avoids the attempt)", warning))
	}
	r.Vacuumed = !skipped
	if r.Vacuumed {
		// The VACUUM wrote the dead rows it could not remove to the
		// statistics as it ended.
		after, err := s.vacuumState(ctx)
		if err != nil {
			return r, fail("vacuum jobs", err)
		}
		s.vacuumLeft.Store(after.Dead)
	}
	return r, nil
}

// vacuumAlone runs vacuum on a connection opened for it, with onNotice as
// its notice handler, and closes the connection after.
func (s *Store) vacuumAlone(ctx context.Context, onNotice func(*pgconn.Notice), vacuum func(context.Context, *pgx.Conn) error) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) { onNotice(n) }
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return vacuum(ctx, conn)
}

// noticeRouter is the notice handler of the connections of the pool that
// Open makes: it hands each notice to the handler set for its connection
// in handlers, if any (JobVacuum's, while its VACUUM runs on a
// subscription's connection), else to the handler the URL's configuration
// had (prev, if any).
type noticeRouter struct {
	handlers sync.Map // *pgconn.PgConn -> func(*pgconn.Notice)
	prev     pgconn.NoticeHandler
}

func (r *noticeRouter) route(c *pgconn.PgConn, n *pgconn.Notice) {
	if h, ok := r.handlers.Load(c); ok {
		h.(func(*pgconn.Notice))(n)
		return
	}
	if r.prev != nil {
		r.prev(c, n)
	}
}

// vacuumState reads sqlVacuumState.
func (s *Store) vacuumState(ctx context.Context) (store.JobVacuumResult, error) {
	var r store.JobVacuumResult
	err := s.pool.QueryRow(ctx, s.sql(sqlVacuumState), s.sql("{s}.kiln_job")).Scan(&r.Dead, &r.Live, &r.Available)
	return r, err
}

// vacuumDue reports whether JobVacuum vacuums with r found: see JobVacuum.
func vacuumDue(r store.JobVacuumResult, minDead int64) bool {
	return r.Dead >= max(minDead, 1) && float64(r.Dead) >= vacuumDeadPerLive*float64(r.Live) &&
		r.Dead >= vacuumDeadPerAvailable*r.Available
}
