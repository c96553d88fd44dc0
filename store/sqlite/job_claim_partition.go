package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlPartitionTakeIDs returns (claimColumns of, with an empty text for
// partition_key: they have none) the jobs of the JSON array of IDs ?4
// that are still due available jobs of queue ?1 and kind ?2 at ?3: the
// jobs without a key that sqlUnkeyedDeep found, one primary-key lookup
// each (NOT INDEXED: the planner would otherwise walk
// the queue and kind's range of kiln_job_claim_untagged). A paused queue
// gives none.
const sqlPartitionTakeIDs = `SELECT ` + claimColumnsButKey + `'' FROM kiln_job NOT INDEXED
WHERE id IN (SELECT value FROM json_each(?4))
	AND state = 'available' AND queue = ?1 AND kind = ?2 AND scheduled_at <= ?3
	AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)`

// sqlUnkeyedJobs returns (claimColumns of) the jobs without a key among
// the first ?4 due available jobs of queue ?1 and kind ?2 at ?3 in claim
// order that are not in the fair order (kiln_job_claim_untagged: those
// without a key, and keyed jobs parked or without a tag), at most ?5. A
// paused queue gives none.
const sqlUnkeyedJobs = `SELECT * FROM (SELECT ` + claimColumns + ` FROM ` + sqlClaimUntagged + `
	WHERE ` + untaggedPredicate + ` AND queue = ?1 AND kind = ?2 AND scheduled_at <= ?3
		AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
	ORDER BY priority, scheduled_at, id
	LIMIT ?4)
WHERE partition_key = ''
LIMIT ?5`

// sqlUnkeyedDeep returns (priority, scheduled_at, id, and whether the job
// has no key) the due available jobs of queue ?1 and kind ?2 at ?3 not in
// the fair order after the place (?5, ?6, ?7) in claim order, at most ?4, less the first ?4 of
// the kind in claim order (those sqlUnkeyedJobs looked among), when those
// are ?4 (fewer: every due job of the kind was among them, and it returns
// none): the second window of a claim's search for jobs without a key
// (store.PartitionCursors.SetUnkeyed). Both reads are of
// kiln_job_claim_untagged alone, which holds every column they need but
// the key. A paused queue gives none.
const sqlUnkeyedDeep = `WITH head AS (
	SELECT id FROM ` + sqlClaimUntagged + `
	WHERE ` + untaggedPredicate + ` AND queue = ?1 AND kind = ?2 AND scheduled_at <= ?3
	ORDER BY priority, scheduled_at, id
	LIMIT ?4
)
SELECT priority, scheduled_at, id, partition_key = '' FROM ` + sqlClaimUntagged + `
WHERE ` + untaggedPredicate + ` AND queue = ?1 AND kind = ?2 AND scheduled_at <= ?3
	AND (priority, scheduled_at, id) > (?5, ?6, ?7) AND id NOT IN (SELECT id FROM head)
	AND (SELECT count(*) FROM head) >= ?4
	AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
ORDER BY priority, scheduled_at, id
LIMIT ?4`

// fairParkedBefore is the last column of the walks (sqlPartitionFair and
// the others): when ?5 (the queue and kind had parked jobs when the claim
// began), whether the job's key has a parked job before it in fair order
// (one seek of kiln_job_fair_parked per entry); otherwise 0, and no seek.
// The walk passes such an entry, so that a key's jobs are claimed in its
// order whatever room it has, and the claim gives the key's parked jobs
// back (fairAfter).
const fairParkedBefore = `,
	CASE WHEN ?5 THEN coalesce((SELECT pk.priority, pk.park_seq FROM kiln_job AS pk INDEXED BY kiln_job_fair_parked
		WHERE pk.state = 'available' AND pk.park_seq IS NOT NULL AND pk.queue = ?1 AND pk.kind = ?2
			AND pk.partition_key = kiln_job.partition_key ORDER BY pk.priority, pk.park_seq LIMIT 1)
		< (kiln_job.priority, kiln_job.fair_seq), 0) ELSE 0 END`

// sqlPartitionFair returns (claimColumns of, then the running jobs of kind
// ?2 under the job's key in any queue) the due available jobs with a key
// of queue ?1 and kind ?2 at ?3 whose key has fewer than ?4 running jobs
// of the kind, in fair order (priority, then fair_seq: migration 035), walking kiln_job_claim_fair from its front: the index holds
// the key and scheduled_at, so that a job not taken (its key at its limit,
// or not due) is passed over without a read of its row; each entry costs
// one seek of kiln_job_running_partition. The caller steps the rows until
// it has its jobs. A paused queue gives none. Its last column is
// fairParkedBefore.
const sqlPartitionFair = `SELECT ` + claimColumns + `, fair_seq,
	` + fairRunning + fairParkedBefore + fairCappedWalk

// fairRunning is the fair walks' count of the running jobs of kind ?2
// with the walked entry's key: one seek of kiln_job_running_partition.
const fairRunning = `(SELECT count(*) FROM kiln_job AS r INDEXED BY kiln_job_running_partition
		WHERE r.state = 'running' AND r.kind = ?2 AND r.partition_key = kiln_job.partition_key AND r.partition_key <> '')`

// fairCappedWalk is the FROM, WHERE and ORDER BY of the walks in fair
// order under a per-key cap ?4 (sqlPartitionFair and
// sqlPartitionFairRateCapped): the due available jobs with a key of queue
// ?1 and kind ?2 at ?3 whose keys run fewer than ?4 jobs of the kind,
// from the front of kiln_job_claim_fair; none in a paused queue.
const fairCappedWalk = `
FROM kiln_job INDEXED BY kiln_job_claim_fair
WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL AND queue = ?1 AND kind = ?2
	AND scheduled_at <= ?3
	AND (SELECT count(*) FROM kiln_job AS r INDEXED BY kiln_job_running_partition
		WHERE r.state = 'running' AND r.kind = ?2 AND r.partition_key = kiln_job.partition_key AND r.partition_key <> '') < ?4
	AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
ORDER BY priority, fair_seq, id`

// sqlPartitionFairOne is sqlPartitionFair under a limit of 1 (?4 unused):
// a key has room when it has no running job of the kind, one probe of
// kiln_job_running_partition that stops at the first entry, and the row's
// running jobs are 0.
const sqlPartitionFairOne = `SELECT ` + claimColumns + `, fair_seq, 0` + fairParkedBefore + `
FROM kiln_job INDEXED BY kiln_job_claim_fair
WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL AND queue = ?1 AND kind = ?2
	AND scheduled_at <= ?3 AND ?4 = 1
	AND NOT EXISTS (SELECT 1 FROM kiln_job AS r INDEXED BY kiln_job_running_partition
		WHERE r.state = 'running' AND r.kind = ?2 AND r.partition_key = kiln_job.partition_key AND r.partition_key <> '')
	AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
ORDER BY priority, fair_seq, id`

// sqlPartitionFairRate returns (claimColumns of, then the theoretical
// arrival time of the job's key's per-key rate budget of kind ?2, NULL for
// none) the due available jobs with a key of queue ?1 and kind ?2 at ?3 in
// fair order, walking kiln_job_claim_fair from its front as
// sqlPartitionFair does, for a kind with a per-key rate limit and no
// per-key cap: the caller tests each key's budget (KeyBudget.TryTake) as
// it steps the rows, and keeps the first budget read of each key for the
// claim. Each entry costs one primary-key lookup of kiln_rate_limit_state.
// A paused queue gives none.
const sqlPartitionFairRate = `SELECT ` + claimColumns + `, fair_seq, 0,
	(SELECT tat FROM kiln_rate_limit_state WHERE kind = ?2 AND per_key = 1 AND key = kiln_job.partition_key)` +
	fairParkedBefore + `
FROM kiln_job INDEXED BY kiln_job_claim_fair
WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL AND queue = ?1 AND kind = ?2
	AND scheduled_at <= ?3 AND ?4 > 0
	AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
ORDER BY priority, fair_seq, id`

// sqlPartitionFairRateCapped is sqlPartitionFairRate for a kind capped per
// key as well: as sqlPartitionFair, it passes over the jobs of keys with ?4
// or more running jobs of the kind, and returns each row's running jobs
// before its budget.
const sqlPartitionFairRateCapped = `SELECT ` + claimColumns + `, fair_seq,
	` + fairRunning + `,
	(SELECT tat FROM kiln_rate_limit_state WHERE kind = ?2 AND per_key = 1 AND key = kiln_job.partition_key)` +
	fairParkedBefore + fairCappedWalk

// sqlFairFront returns, before a claim in fair order of queue ?1 and kind
// ?2 under a per-key cap, the priority and tag of the front of the fair
// order (-1, -1 when it is empty) and whether the queue and kind have
// parked jobs (migration 035): two seeks per claim.
const sqlFairFront = `SELECT coalesce(f.priority, -1), coalesce(f.fair_seq, -1),
	EXISTS (SELECT 1 FROM kiln_job INDEXED BY kiln_job_fair_parked
		WHERE state = 'available' AND park_seq IS NOT NULL AND queue = ?1 AND kind = ?2)
FROM (SELECT 1) LEFT JOIN (SELECT priority, fair_seq FROM kiln_job INDEXED BY kiln_job_claim_fair
	WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL AND queue = ?1 AND kind = ?2
	ORDER BY priority, fair_seq LIMIT 1) AS f`

// sqlFairPark parks the entries of kiln_job_claim_fair of queue ?1 and
// kind ?2 before (priority ?3, tag ?4) and due at ?6 of each key with ?5
// or more running jobs of the kind, but for the key's first ?5 due ones
// (its heads): park_seq takes the tag and the job leaves the fair index
// (migration 035). It reads what the walk passed over. A job not due
// stays, so that no due job of a key waits behind one that is not.
const sqlFairPark = `UPDATE kiln_job SET park_seq = fair_seq, fair_seq = NULL WHERE id IN (
	SELECT id FROM (SELECT f.id AS id, f.partition_key AS k,
			row_number() OVER (PARTITION BY f.partition_key ORDER BY f.priority, f.fair_seq, f.id) AS rn
		FROM kiln_job AS f INDEXED BY kiln_job_claim_fair
		WHERE f.state = 'available' AND f.partition_key <> '' AND f.fair_seq IS NOT NULL
			AND f.queue = ?1 AND f.kind = ?2 AND (f.priority, f.fair_seq) < (?3, ?4) AND f.scheduled_at <= ?6)
	WHERE rn > ?5 AND (SELECT count(*) FROM kiln_job AS r INDEXED BY kiln_job_running_partition
		WHERE r.state = 'running' AND r.kind = ?2 AND r.partition_key = k AND r.partition_key <> '') >= ?5)`

// sqlFairUnparkAll gives back their tags to every parked job of queue ?1
// and kind ?2: a claim in fair order without a per-key cap runs it first
// (one seek when none is parked), since nothing else would give back the
// jobs that claims under a cap parked (the cap removed, or a kind with a
// per-key rate limit alone: fairAfter gives back under a cap only).
const sqlFairUnparkAll = `UPDATE kiln_job SET fair_seq = park_seq, park_seq = NULL WHERE id IN (
	SELECT id FROM kiln_job INDEXED BY kiln_job_fair_parked
	WHERE state = 'available' AND park_seq IS NOT NULL AND queue = ?1 AND kind = ?2)`

// sqlFairClaimed records ?4 as the largest tag claimed in fair order at
// queue ?1, kind ?2 and priority ?3 (claim_seq of the row of the empty key,
// migration 038: the virtual time, below which no job is tagged) unless it
// holds a larger one. The row exists: it was written when the jobs were
// tagged.
const sqlFairClaimed = `UPDATE kiln_job_fair_key SET claim_seq = ?4
WHERE queue = ?1 AND kind = ?2 AND partition_key = '' AND priority = ?3 AND claim_seq < ?4`

// sqlFairParkedKeys returns the keys of the JSON array ?3 that have parked
// jobs of queue ?1 and kind ?2 (one seek of kiln_job_fair_parked per key).
const sqlFairParkedKeys = `SELECT value FROM json_each(?3) WHERE EXISTS (SELECT 1 FROM kiln_job INDEXED BY kiln_job_fair_parked
	WHERE state = 'available' AND park_seq IS NOT NULL AND queue = ?1 AND kind = ?2 AND partition_key = value)`

// sqlFairUnpark gives back their tags to the next ?4 parked jobs (in
// priority, then tag order) of key ?3 of queue ?1 and kind ?2: the key's
// next heads, in its order.
const sqlFairUnpark = `UPDATE kiln_job SET fair_seq = park_seq, park_seq = NULL WHERE id IN (
	SELECT id FROM kiln_job INDEXED BY kiln_job_fair_parked
	WHERE state = 'available' AND park_seq IS NOT NULL AND queue = ?1 AND kind = ?2 AND partition_key = ?3
	ORDER BY priority, park_seq LIMIT ?4)`

// sqlFairSweep returns the keys with parked jobs of queue ?1 and kind ?2
// (a loose index scan of kiln_job_fair_parked: one seek per key) that have
// fewer than ?3 running jobs of the kind, with their room: a key whose
// heads left the fair order other than by a claim in it (cancelled,
// deleted, claimed by a plain claim, moved) has no entry there to be
// taken, and nothing else gives its parked jobs back.
const sqlFairSweep = `WITH RECURSIVE keys(k) AS (
	SELECT (SELECT partition_key FROM kiln_job INDEXED BY kiln_job_fair_parked
		WHERE state = 'available' AND park_seq IS NOT NULL AND queue = ?1 AND kind = ?2 ORDER BY partition_key LIMIT 1)
	UNION ALL
	SELECT (SELECT partition_key FROM kiln_job INDEXED BY kiln_job_fair_parked
		WHERE state = 'available' AND park_seq IS NOT NULL AND queue = ?1 AND kind = ?2 AND partition_key > keys.k
		ORDER BY partition_key LIMIT 1) FROM keys WHERE keys.k IS NOT NULL)
SELECT k, room FROM (SELECT k, ?3 - (SELECT count(*) FROM kiln_job AS r INDEXED BY kiln_job_running_partition
		WHERE r.state = 'running' AND r.kind = ?2 AND r.partition_key = keys.k AND r.partition_key <> '') AS room
	FROM keys WHERE k IS NOT NULL) WHERE room > 0`

// fairSweepEvery is how many claims with parked jobs (per process, queue
// and kind) pass between two sweeps (sqlFairSweep).
const fairSweepEvery = 16

// fairParkGap is how many tag levels past the front, and past the latest
// park, a claim's walk must reach (at the front's priority) before the
// claim parks what it passed over: the walk passes
// at most 2 × fairParkGap + limit entries of each key at its limit, a key
// is parked in batches of about fairParkGap jobs, and a burn-down whose
// walks cross one level at a time parks nothing.
const fairParkGap = 8

// fairStats counts, for the tests, the park statements run, the jobs
// parked and given back, the claims in fair order that counted them, and
// the sweeps, in every store of the process.
var fairStats struct{ Parks, Parked, Unparked, Claims, Sweeps atomic.Int64 }

// partitionStmts are the prepared statements of claims by partition key,
// prepared when a claim first needs them (not with the other statements:
// they name the indexes of migration 020, and a store whose schema
// predates it must still run everything else).
type partitionStmts struct {
	// mu guards every field.
	mu                    sync.Mutex
	unkeyed, unkeyedDeep  *sql.Stmt // sqlUnkeyedJobs, sqlUnkeyedDeep
	takeIDs               *sql.Stmt // sqlPartitionTakeIDs (after unkeyedDeep)
	fair, fairOne         *sql.Stmt // sqlPartitionFair, sqlPartitionFairOne
	fairFront             *sql.Stmt // sqlFairFront
	unparkAll, claimed    *sql.Stmt // sqlFairUnparkAll, sqlFairClaimed
	fairRate, fairRateCap *sql.Stmt // sqlPartitionFairRate, sqlPartitionFairRateCapped
	// lastPark holds, per queue and kind, the priority and tag up to which
	// the latest claim in fair order parked.
	lastPark map[[2]string][2]int64
	// sweeps counts, per queue and kind, the claims with parked jobs since
	// the latest sweep.
	sweeps map[[2]string]int
}

// sweepDue counts a claim of queue and kind with parked jobs and reports
// whether it sweeps (every fairSweepEvery-th).
func (ps *partitionStmts) sweepDue(queue, kind string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.sweeps == nil {
		ps.sweeps = make(map[[2]string]int)
	}
	k := [2]string{queue, kind}
	ps.sweeps[k]++
	if ps.sweeps[k] >= fairSweepEvery {
		ps.sweeps[k] = 0
		return true
	}
	return false
}

// parkDue reports whether a claim of queue and kind whose walk reached
// (priority rp, tag rs) parks: a walk that came back short always does;
// another when it reached fairParkGap levels past the front and past the
// latest park, and records rp, rs as the latest park.
func (ps *partitionStmts) parkDue(queue, kind string, short bool, fp, fs, rp, rs int64) bool {
	if short {
		return true
	}
	if rp < 0 || (fp == rp && fs > rs-fairParkGap) {
		return false
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.lastPark == nil {
		ps.lastPark = make(map[[2]string][2]int64)
	}
	k := [2]string{queue, kind}
	if l, ok := ps.lastPark[k]; ok && l[0] == rp && l[1] > rs-fairParkGap && l[1] <= rs {
		return false
	}
	ps.lastPark[k] = [2]int64{rp, rs}
	return true
}

// prepare prepares on db the statements that a claim by key may need, so
// that it finds them within the claim's transaction (where the writer's
// only connection cannot prepare for later claims). Like stmts, it must
// not be called inside a writer transaction. None names
// kiln_job_claim_partition nor kiln_job_partition_key, which the contract
// migration 037 drops: this build runs before and after it.
func (ps *partitionStmts) prepare(ctx context.Context, db *sql.DB) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, f := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&ps.unkeyed, sqlUnkeyedJobs},
		{&ps.unkeyedDeep, sqlUnkeyedDeep},
		{&ps.takeIDs, sqlPartitionTakeIDs},
		{&ps.fair, sqlPartitionFair},
		{&ps.fairOne, sqlPartitionFairOne},
		{&ps.fairFront, sqlFairFront},
		{&ps.unparkAll, sqlFairUnparkAll},
		{&ps.claimed, sqlFairClaimed},
		{&ps.fairRate, sqlPartitionFairRate},
		{&ps.fairRateCap, sqlPartitionFairRateCapped},
	} {
		if *f.stmt != nil {
			continue
		}
		s, err := db.PrepareContext(ctx, f.query)
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		*f.stmt = s
	}
	return nil
}

// close closes the statements prepared so far.
func (ps *partitionStmts) close() error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var errs []error
	for _, s := range []**sql.Stmt{&ps.unkeyed, &ps.unkeyedDeep, &ps.takeIDs, &ps.fair, &ps.fairOne, &ps.fairFront,
		&ps.unparkAll, &ps.claimed, &ps.fairRate, &ps.fairRateCap} {
		if *s != nil {
			errs = append(errs, (*s).Close())
			*s = nil
		}
	}
	return errors.Join(errs...)
}

// partitionTx is the statements of partitionStmts for one claim's write
// transaction.
type partitionTx struct {
	ctx                   context.Context
	tx                    *sql.Tx
	ps                    *partitionStmts
	unkeyed, unkeyedDeep  *sql.Stmt
	takeIDs               *sql.Stmt
	fair, fairOne         *sql.Stmt // sqlPartitionFair, sqlPartitionFairOne
	fairFront             *sql.Stmt // sqlFairFront
	unparkAll, claimed    *sql.Stmt // sqlFairUnparkAll, sqlFairClaimed
	fairRate, fairRateCap *sql.Stmt // sqlPartitionFairRate, sqlPartitionFairRateCapped
	update                *sql.Stmt // sqlClaimUpdateAvailable
	countMoves            *sql.Stmt // sqlCountMoves
	// counted gathers the jobs that the takes moved to running (update
	// flips their counted: migration 026), for writeCounted.
	counted moves
}

// writeCounted adds the moves of the claim's takes to kiln_job_count, one
// UPSERT per queue and state (sqlCountMoves) however many jobs and takes:
// a claim by key counts its own moves, as the plain claim does, where the
// UPDATE trigger ran two UPSERTs per job.
func (t *partitionTx) writeCounted() error {
	return t.counted.write(t.ctx, t.countMoves)
}

// bind returns the statements for tx, bound to it.
func (ps *partitionStmts) bind(ctx context.Context, tx *sql.Tx, st *stmts) *partitionTx {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	bound := func(s *sql.Stmt) *sql.Stmt { return tx.StmtContext(ctx, s) }
	return &partitionTx{ctx: ctx, tx: tx, ps: ps, unkeyed: bound(ps.unkeyed), unkeyedDeep: bound(ps.unkeyedDeep),
		takeIDs: bound(ps.takeIDs), fair: bound(ps.fair), fairOne: bound(ps.fairOne), fairFront: bound(ps.fairFront),
		unparkAll: bound(ps.unparkAll), claimed: bound(ps.claimed), fairRate: bound(ps.fairRate), fairRateCap: bound(ps.fairRateCap), update: bound(st.claimUpdateAvailable),
		countMoves: bound(st.countMoves), counted: make(moves, 2)}
}

// partitionSource is store.PartitionFairBudget for one kind of a claim,
// in its write transaction (the database's only writer: the counts of
// running jobs and the budgets hold until it commits). The jobs with a key
// are claimed in fair order (FairOrder, FairOrderBudget: one walk of
// kiln_job_claim_fair and one UPDATE), the jobs without a key by Take.
type partitionSource struct {
	tx   *partitionTx
	p    *store.JobClaimParams
	kind string
	// cursors holds where the claims' reads of jobs without a key past
	// their first window start (store.PartitionCursors.Unkeyed).
	cursors *store.PartitionCursors
}

// Take claims up to empty of the due available jobs without a key among
// the first window of the kind in claim order (sqlUnkeyedJobs), and, when
// those are all taken by jobs with a key, among as many again past the
// place where the previous such read stopped (unkeyedDeep), as
// store.PartitionTaker says. It takes no keys: the jobs with a key are
// claimed in fair order (FairOrder, FairOrderBudget).
func (p *partitionSource) Take(ctx context.Context, keys []string, _ []int, empty, window int) ([]*kilntype.JobRow, error) {
	if len(keys) > 0 {
		return nil, errors.New("select jobs by key: SQLite claims the jobs with a key in fair order")
	}
	picked := make([]*kilntype.JobRow, 0, empty)
	read := func(stmt *sql.Stmt, args ...any) error {
		rows, err := stmt.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var c candidate
		for rows.Next() {
			j, err := scanCandidate(rows, &c)
			if err != nil {
				return err
			}
			picked = append(picked, j)
		}
		return rows.Err()
	}
	now := micros(p.p.Now)
	if empty > 0 {
		if err := read(p.tx.unkeyed, p.p.Queue, p.kind, now, window, empty); err != nil {
			return nil, fmt.Errorf("select jobs without a key: %w", err)
		}
		if found := len(picked); found < empty {
			ids, err := p.unkeyedDeep(ctx, now, window, empty-found)
			if err == nil && len(ids) > 0 {
				err = read(p.tx.takeIDs, p.p.Queue, p.kind, now, jsonIDs(ids))
			}
			if err != nil {
				return nil, fmt.Errorf("select jobs without a key: %w", err)
			}
		}
	}
	return p.claim(ctx, picked)
}

// claim moves picked, due available jobs of the kind read in this write
// transaction, to running, and returns them as claimed (nil when picked
// is empty).
func (p *partitionSource) claim(ctx context.Context, picked []*kilntype.JobRow) ([]*kilntype.JobRow, error) {
	if len(picked) == 0 {
		return nil, nil
	}
	now := micros(p.p.Now)
	ids := make([]int64, len(picked))
	times := &claimTimes{truncate(p.p.Now), truncate(p.p.LeaseExpiresAt)}
	for i, j := range picked {
		ids[i] = j.ID
		markClaimed(j, p.p, times)
	}
	// Every job picked is available (each read above requires it), so
	// the statement that moves available jobs only, and counts them
	// itself, moves them all.
	n, err := execCount(p.tx.update.ExecContext(ctx, now, p.p.LeasedBy, micros(p.p.LeaseExpiresAt), jsonIDs(ids)))
	if err != nil {
		return nil, fmt.Errorf("mark running: %w", err)
	}
	if n != len(ids) {
		return nil, fmt.Errorf("mark running: %d of %d jobs updated", n, len(ids))
	}
	p.tx.counted.move(p.p.Queue, "available", "running", n, false)
	return picked, nil
}

// unkeyedDeep returns the IDs of up to n due jobs without a key at now
// in the second window of a claim's search for them (sqlUnkeyedDeep, from
// where the previous such read stopped), and records where the next one
// starts (store.PartitionCursors.SetUnkeyed).
func (p *partitionSource) unkeyedDeep(ctx context.Context, now int64, window, n int) ([]int64, error) {
	if p.cursors == nil { // a source made by a test
		p.cursors = new(store.PartitionCursors)
	}
	after := p.cursors.Unkeyed(p.p.Queue, p.kind)
	prio, at := int64(math.MinInt64), int64(math.MinInt64)
	if after.ID != 0 {
		prio, at = int64(after.Priority), micros(after.ScheduledAt)
	}
	rows, err := p.tx.unkeyedDeep.QueryContext(ctx, p.p.Queue, p.kind, now, window, prio, at, after.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		ids  []int64
		read int
		last store.ClaimPos
	)
	for rows.Next() {
		var (
			at      int64
			unkeyed bool
		)
		if err := rows.Scan(&last.Priority, &at, &last.ID, &unkeyed); err != nil {
			return nil, err
		}
		last.ScheduledAt = fromMicros(at)
		read++
		if unkeyed && len(ids) < n {
			ids = append(ids, last.ID)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	p.cursors.SetUnkeyed(p.p.Queue, p.kind, last, read, window)
	return ids, nil
}

// FairOrder claims, in fair order, the kind's due available jobs with a
// key of keys with room, as store.PartitionFairOrder says: it steps
// sqlPartitionFair (which passes over the keys at maxRunning in SQLite)
// until it has n jobs, takes each job whose key's running jobs and jobs
// taken before it number fewer than maxRunning (0: no cap) and that has no
// parked job of its key before it, and moves them to running in the
// claim's write transaction (the database's only writer: no count changes
// before it commits).
func (p *partitionSource) FairOrder(ctx context.Context, n, maxRunning int) ([]*kilntype.JobRow, error) {
	limit := maxRunning
	if limit <= 0 {
		limit = math.MaxInt32
	}
	f, err := p.fairBefore(ctx, maxRunning)
	if err != nil {
		return nil, err
	}
	stmt := p.tx.fair
	if limit == 1 {
		stmt = p.tx.fairOne
	}
	rows, err := stmt.QueryContext(ctx, p.p.Queue, p.kind, micros(p.p.Now), limit, f.parked)
	if err != nil {
		return nil, fmt.Errorf("claim in fair order: %w", err)
	}
	defer rows.Close()
	var (
		picked       = make([]*kilntype.JobRow, 0, n)
		seen         = make(map[string]int, n)
		c            candidate
		running, seq int64
		behind       bool
	)
	for len(picked) < n && rows.Next() {
		j := new(kilntype.JobRow)
		if err := rows.Scan(append(c.dests(j), &seq, &running, &behind)...); err != nil {
			return nil, fmt.Errorf("claim in fair order: %w", err)
		}
		before := seen[j.Partition]
		seen[j.Partition] = before + 1
		if int(running)+before >= limit {
			continue
		}
		if behind {
			f.block(j.Partition, limit-int(running))
			continue
		}
		if picked, err = f.pick(picked, j, &c, seq); err != nil {
			return nil, err
		}
	}
	return p.fairClaim(ctx, rows, picked, n, maxRunning, f, "claim in fair order")
}

// FairOrderBudget claims, in fair order, the kind's due available jobs
// with a key of keys with room under maxRunning (0: no cap) and under their
// per-key rate budget, as store.PartitionFairBudget says: it steps
// sqlPartitionFairRate (sqlPartitionFairRateCapped under a cap, which
// passes over the keys at maxRunning in SQLite) until it has n jobs, reads
// each key's budget from the first row of the key (budget.See: later rows'
// readings are ignored, the claim's takes count against the first), takes
// each job whose key has room under the cap, counting the jobs taken
// before it, that has no parked job of its key before it, and under its
// budget (budget.TryTake), and moves them to running in the claim's write
// transaction, the database's only writer: no budget nor count changes
// before it commits, and the caller writes the budgets taken in the same
// transaction (rateTaken). A key over budget is passed over: its jobs stay
// available, untouched.
func (p *partitionSource) FairOrderBudget(ctx context.Context, n, maxRunning int, budget *store.KeyBudget) ([]*kilntype.JobRow, error) {
	limit := maxRunning
	stmt := p.tx.fairRateCap
	if limit <= 0 {
		limit, stmt = math.MaxInt32, p.tx.fairRate
	}
	f, err := p.fairBefore(ctx, maxRunning)
	if err != nil {
		return nil, err
	}
	rows, err := stmt.QueryContext(ctx, p.p.Queue, p.kind, micros(p.p.Now), limit, f.parked)
	if err != nil {
		return nil, fmt.Errorf("claim in fair order within key budgets: %w", err)
	}
	defer rows.Close()
	var (
		picked       = make([]*kilntype.JobRow, 0, n)
		taken        = make(map[string]int, n) // jobs taken per key in this walk
		c            candidate
		running, seq int64
		tat          sql.NullInt64
		behind       bool
	)
	for len(picked) < n && rows.Next() {
		j := new(kilntype.JobRow)
		if err := rows.Scan(append(c.dests(j), &seq, &running, &tat, &behind)...); err != nil {
			return nil, fmt.Errorf("claim in fair order within key budgets: %w", err)
		}
		if int(running)+taken[j.Partition] >= limit {
			continue
		}
		if behind {
			f.block(j.Partition, limit-int(running))
			continue
		}
		var at time.Time
		if tat.Valid {
			at = fromMicros(tat.Int64)
		}
		budget.See(j.Partition, at)
		if !budget.TryTake(j.Partition) {
			continue
		}
		taken[j.Partition]++
		if picked, err = f.pick(picked, j, &c, seq); err != nil {
			return nil, err
		}
	}
	return p.fairClaim(ctx, rows, picked, n, maxRunning, f, "claim in fair order within key budgets")
}

// pick appends j, scanned through c, with tag seq, to picked, the jobs a
// walk in fair order takes (FairOrder, FairOrderBudget), and records it
// as taken.
func (f *fairWalk) pick(picked []*kilntype.JobRow, j *kilntype.JobRow, c *candidate, seq int64) ([]*kilntype.JobRow, error) {
	if err := c.fill(j); err != nil {
		return picked, err
	}
	f.took(j.Priority, seq)
	return append(picked, j), nil
}

// fairClaim ends a walk in fair order that wanted n jobs and picked
// picked from rows (FairOrder, FairOrderBudget; what names it in
// errors): it closes rows, moves the picked jobs to running (claim) and
// parks, gives back and records the virtual time (fairAfter).
func (p *partitionSource) fairClaim(ctx context.Context, rows *sql.Rows, picked []*kilntype.JobRow, n, maxRunning int,
	f *fairWalk, what string) ([]*kilntype.JobRow, error) {
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	jobs, err := p.claim(ctx, picked)
	if err != nil {
		return nil, err
	}
	return jobs, p.fairAfter(ctx, jobs, maxRunning, len(picked) < n, f)
}

// fairWalk is what a claim in fair order knows of the fair order before
// its walk (fairBefore) and learns in it.
type fairWalk struct {
	// frontP, frontSeq are the priority and tag of the front of the fair
	// order before the walk (-1, -1: empty; unread without a cap).
	frontP, frontSeq int64
	// parked is whether the queue and kind had parked jobs before the
	// walk (under a cap: without one, fairBefore gave them all back).
	parked bool
	// reachP, reachSeq are the last job taken's priority and tag (-1, -1:
	// none).
	reachP, reachSeq int64
	// tops holds, per priority taken (in the walk's order), the largest
	// tag taken: the claim records it as claim_seq (sqlFairClaimed).
	tops [][2]int64
	// blocked holds the keys with room that the walk passed because a
	// parked job of theirs comes before (fairParkedBefore), with their
	// room under the cap before the claim.
	blocked map[string]int
}

// took records a job taken at priority prio with tag seq.
func (f *fairWalk) took(prio int, seq int64) {
	f.reachP, f.reachSeq = int64(prio), seq
	if l := len(f.tops); l > 0 && f.tops[l-1][0] == int64(prio) {
		f.tops[l-1][1] = max(f.tops[l-1][1], seq)
		return
	}
	f.tops = append(f.tops, [2]int64{int64(prio), seq})
}

// block records key, with room before the claim, as passed because of a
// parked job of its before the entry.
func (f *fairWalk) block(key string, room int) {
	if f.blocked == nil {
		f.blocked = make(map[string]int)
	}
	f.blocked[key] = room
}

// fairBefore prepares a claim in fair order of the kind: under a cap
// (maxRunning > 0) it reads the front of the fair order and whether the
// queue and kind have parked jobs (sqlFairFront); without one it gives
// back every parked job (sqlFairUnparkAll), which claims under a cap
// parked (the cap since removed) and nothing else would give back.
func (p *partitionSource) fairBefore(ctx context.Context, maxRunning int) (*fairWalk, error) {
	f := &fairWalk{frontP: -1, frontSeq: -1, reachP: -1, reachSeq: -1}
	switch {
	case maxRunning <= 0 && p.tx.unparkAll != nil:
		n, err := execCount(p.tx.unparkAll.ExecContext(ctx, p.p.Queue, p.kind))
		if err != nil {
			return nil, fmt.Errorf("fair order: unpark: %w", err)
		}
		fairStats.Unparked.Add(int64(n))
	case maxRunning > 0 && p.tx.fairFront != nil:
		if err := p.tx.fairFront.QueryRowContext(ctx, p.p.Queue, p.kind).Scan(&f.frontP, &f.frontSeq, &f.parked); err != nil {
			return nil, fmt.Errorf("fair order: front: %w", err)
		}
	}
	return f, nil
}

// fairSweep gives back, for each key with parked jobs and room, as many
// of its parked jobs as it has room (sqlFairSweep, sqlFairUnpark).
func (p *partitionSource) fairSweep(ctx context.Context, maxRunning int) error {
	rows, err := p.tx.tx.QueryContext(ctx, sqlFairSweep, p.p.Queue, p.kind, maxRunning)
	if err != nil {
		return fmt.Errorf("fair order: sweep: %w", err)
	}
	type keyRoom struct {
		key  string
		room int
	}
	var rooms []keyRoom
	for rows.Next() {
		var kr keyRoom
		if err := rows.Scan(&kr.key, &kr.room); err != nil {
			rows.Close()
			return fmt.Errorf("fair order: sweep: %w", err)
		}
		rooms = append(rooms, kr)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("fair order: sweep: %w", err)
	}
	fairStats.Sweeps.Add(1)
	for _, kr := range rooms {
		n, err := execCount(p.tx.tx.ExecContext(ctx, sqlFairUnpark, p.p.Queue, p.kind, kr.key, kr.room))
		if err != nil {
			return fmt.Errorf("fair order: sweep: %w", err)
		}
		fairStats.Unparked.Add(int64(n))
	}
	return nil
}

// fairAfter records the largest tag the claim took at each priority as
// the virtual time there (sqlFairClaimed, migration 038: one UPDATE per
// priority taken, usually one), and, under a cap, bounds the next walks
// past keys at their limit (migration 035): it gives back the next parked
// jobs of each key that the claim took jobs of (as many as it took) or
// passed because of a parked job of its (as many as its room), sweeps
// every fairSweepEvery-th claim with parked jobs, and, when the walk
// reached fairParkGap levels or more past the front, or came back short,
// parks what the walk passed over of the keys at their limit (all but
// each one's first maxRunning entries). No more statement under a cap
// when nothing is parked and the walk was shallow.
func (p *partitionSource) fairAfter(ctx context.Context, jobs []*kilntype.JobRow, maxRunning int, short bool, f *fairWalk) error {
	if p.tx.claimed != nil {
		for _, t := range f.tops {
			if _, err := p.tx.claimed.ExecContext(ctx, p.p.Queue, p.kind, t[0], t[1]); err != nil {
				return fmt.Errorf("fair order: virtual time: %w", err)
			}
		}
	}
	if maxRunning <= 0 || p.tx.fairFront == nil {
		return nil
	}
	fairStats.Claims.Add(1)
	if f.parked && p.tx.ps.sweepDue(p.p.Queue, p.kind) {
		if err := p.fairSweep(ctx, maxRunning); err != nil {
			return err
		}
	}
	if f.parked && (len(jobs) > 0 || len(f.blocked) > 0) {
		give := make(map[string]int, len(jobs)+len(f.blocked))
		var keys []string
		for _, j := range jobs {
			if give[j.Partition] == 0 {
				keys = append(keys, j.Partition)
			}
			give[j.Partition]++
		}
		for k, room := range f.blocked {
			if give[k] == 0 {
				keys = append(keys, k)
			}
			give[k] = max(give[k], room)
		}
		list, err := json.Marshal(keys)
		if err != nil {
			return err
		}
		rows, err := p.tx.tx.QueryContext(ctx, sqlFairParkedKeys, p.p.Queue, p.kind, string(list))
		if err != nil {
			return fmt.Errorf("fair order: parked keys: %w", err)
		}
		var with []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				rows.Close()
				return fmt.Errorf("fair order: parked keys: %w", err)
			}
			with = append(with, k)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("fair order: parked keys: %w", err)
		}
		for _, k := range with {
			n, err := execCount(p.tx.tx.ExecContext(ctx, sqlFairUnpark, p.p.Queue, p.kind, k, give[k]))
			if err != nil {
				return fmt.Errorf("fair order: unpark: %w", err)
			}
			fairStats.Unparked.Add(int64(n))
		}
	}
	if f.frontSeq < 0 {
		return nil // nothing in the fair order
	}
	reachP, reachSeq := f.reachP, f.reachSeq
	if !p.tx.ps.parkDue(p.p.Queue, p.kind, short, f.frontP, f.frontSeq, reachP, reachSeq) {
		return nil // a shallow walk, or one that parked less than fairParkGap levels ago
	}
	if short {
		reachP, reachSeq = math.MaxInt32, math.MaxInt64
	}
	n, err := execCount(p.tx.tx.ExecContext(ctx, sqlFairPark, p.p.Queue, p.kind, reachP, reachSeq, maxRunning, micros(p.p.Now)))
	if err != nil {
		return fmt.Errorf("fair order: park: %w", err)
	}
	fairStats.Parks.Add(1)
	fairStats.Parked.Add(int64(n))
	return nil
}

var (
	_ store.PartitionFairOrder  = (*partitionSource)(nil)
	_ store.PartitionFairBudget = (*partitionSource)(nil)
)
