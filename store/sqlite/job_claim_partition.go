package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlPartitionKeys returns up to ?4 partition keys other than ” of the
// available jobs of queue ?1 and kind ?2, in byte order after ?3, by a
// loose index scan of kiln_job_claim_partition: one seek per key, however
// many jobs each key has queued. The count stops the recursion, not a
// LIMIT: a LIMIT bound as a parameter makes SQLite prepare the statement
// again whenever its value changes (see claimStmts).
const sqlPartitionKeys = `WITH RECURSIVE keys(k, i) AS (
	SELECT (SELECT partition_key FROM kiln_job INDEXED BY kiln_job_claim_partition
		WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key <> '' AND partition_key > ?3
		ORDER BY partition_key LIMIT 1), 1
	UNION ALL
	SELECT (SELECT partition_key FROM kiln_job INDEXED BY kiln_job_claim_partition
		WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key <> '' AND partition_key > keys.k
		ORDER BY partition_key LIMIT 1), keys.i + 1
	FROM keys WHERE keys.k IS NOT NULL AND keys.i < ?4
)
SELECT k FROM keys WHERE k IS NOT NULL`

// sqlPartitionKeyBudgets lists the partition keys other than "" of the
// available jobs of queue ?1 and kind ?2, in byte order after ?3, each
// with the theoretical arrival time of its per-key rate budget of kind ?2
// (NULL: none): up to the ?4-th key whose tat is NULL or not after ?6,
// or ?5 keys, whichever comes first. Rows are (v, tat, i). When ?3 is "",
// the first row (i = 0) is the key "" and its own budget (the jobs
// without a key). Each row after it holds a key's first job ID and the
// key, as "ID key" (for sqlPartitionTakeIDs), and the budget of the key of the row before it
// (NULL on the first such row, i = 1): a reader pairs each key with the
// next row's tat, and a row whose v is NULL follows the last key of all
// (the keys ran out). The rows come as one value (sqlKeyList).
//
// keys walks kiln_job_claim_partition as sqlPartitionKeys does (one seek
// per key, and one more for the key after the last one paired), and each
// step looks up the budget of the key of the row it steps from (one
// primary-key lookup per key, made once); found counts the keys with room
// before that one, which stops the walk. No sort: the rows come out in
// the order of the walk.
const sqlPartitionKeyBudgets = `WITH RECURSIVE keys(v, i, prev, found) AS (
	SELECT ' ' || ?3, 0, NULL, 0
	UNION ALL
	SELECT (SELECT id || ' ' || partition_key FROM kiln_job INDEXED BY kiln_job_claim_partition
			WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key <> ''
				AND partition_key > substr(keys.v, instr(keys.v, ' ') + 1)
			ORDER BY partition_key LIMIT 1),
		keys.i + 1,
		CASE WHEN keys.i > 0 THEN (SELECT tat FROM kiln_rate_limit_state
			WHERE kind = ?2 AND per_key = 1 AND key = substr(keys.v, instr(keys.v, ' ') + 1)) END,
		keys.found + (keys.i > 1 AND coalesce(keys.prev <= ?6, 1))
	FROM keys
	WHERE keys.v IS NOT NULL AND keys.i <= ?5 AND keys.found + (keys.i > 1 AND coalesce(keys.prev <= ?6, 1)) < ?4
)
SELECT ` + sqlKeyList + ` FROM (
	SELECT '' AS v, (SELECT tat FROM kiln_rate_limit_state WHERE kind = ?2 AND per_key = 1 AND key = '') AS prev, 0 AS i
	WHERE ?3 = ''
	UNION ALL
	SELECT v, prev, i FROM keys WHERE i > 0
)`

// sqlPartitionKeysListed lists, in byte order after ?3, the partition keys
// of queue ?1 and kind ?2 in kiln_job_partition_key (migration 028: every
// key with available jobs, and perhaps keys whose jobs have all left the
// available state since), each with the ID of its first available job in
// claim order (NULL: none, a key to delete: sqlPartitionKeysDrop), its
// running jobs of kind ?2 (in any queue), that job's columns
// (listedColumns), and, on every row, whether queue ?1 is paused.
// The rows come in the order of the table's primary key, with no sort and
// no recursion, one seek of kiln_job_claim_partition, one of
// kiln_job_running_partition and one lookup of the first job by rowid per
// key, computed as the caller steps them: KeysRunning stops stepping once
// it has the keys it wants. A take of one job from a key reads nothing
// more when that job is due (partitionSource.takeFirst): the listing's
// row is the job a take would read.
const sqlPartitionKeysListed = `SELECT k.partition_key, j.id,
	(SELECT count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
		WHERE state = 'running' AND kind = ?2 AND partition_key = k.partition_key AND partition_key <> ''),
	` + listedColumns + `,
	EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
FROM kiln_job_partition_key AS k
LEFT JOIN kiln_job AS j ON j.id = (SELECT id FROM kiln_job INDEXED BY kiln_job_claim_partition
		WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key = k.partition_key AND partition_key <> ''
		ORDER BY priority, scheduled_at LIMIT 1)
WHERE k.queue = ?1 AND k.kind = ?2 AND k.partition_key > ?3
ORDER BY k.partition_key`

// listedColumns are the columns of a key's first job in
// sqlPartitionKeysListed (j) after its ID, in scanListed's order:
// claimColumns but id, kind, queue and partition_key, which the listing
// knows (the driver copies no text for them), with zeros for the
// integers of a key without a job.
const listedColumns = `j.args, coalesce(j.priority, 0), coalesce(j.attempt, 0), coalesce(j.max_attempts, 0),
	coalesce(j.created_at, 0), coalesce(j.scheduled_at, 0), nullif(j.tags, '[]'), nullif(j.metadata, '{}'),
	j.unique_key, j.last_error`

// sqlPartitionKeysDrop deletes from kiln_job_partition_key the keys of the
// JSON array ?3 of queue ?1 and kind ?2 that have no available job: those
// that sqlPartitionKeysListed found without one, checked again (a job that
// became available since added its key back: migration 028's triggers).
const sqlPartitionKeysDrop = `DELETE FROM kiln_job_partition_key
WHERE queue = ?1 AND kind = ?2 AND partition_key IN (SELECT value FROM json_each(?3))
	AND NOT EXISTS (SELECT 1 FROM kiln_job INDEXED BY kiln_job_claim_partition
		WHERE state = 'available' AND queue = ?1 AND kind = ?2
			AND partition_key = kiln_job_partition_key.partition_key AND partition_key <> '')`

// sqlKeyList is the one value that sqlPartitionKeyBudgets returns: their rows (v, prev), in the order of
// the walk (i), as one text in which each row is v, NUL, prev and each
// row after the first is preceded by a NUL, a NULL being empty (neither v,
// a key's "ID key", nor prev, a number, is ever empty, and a partition
// key holds no NUL). One row, whatever the number of keys: the driver
// copies and boxes each text it returns (two allocations), and database/sql
// and the driver step each row, so that ~100 rows cost ~200 allocations
// and ~100 calls more than one row (readKeyList reads it). NULL when the
// walk gave no row.
const sqlKeyList = `group_concat(coalesce(v, '') || char(0) || coalesce(prev, ''), char(0) ORDER BY i)`

// sqlPartitionTakeIDs returns (claimColumns of, with an empty text for
// partition_key, which the caller knows) the jobs of the JSON array of IDs
// ?4 that are still due available jobs of queue ?1 and kind ?2 at ?3: the
// first jobs of the keys that sqlPartitionKeysListed listed, one
// primary-key lookup each (NOT INDEXED: the planner would otherwise walk
// the queue and kind's range of kiln_job_claim_kind, every available job
// of the kind). A paused queue gives none.
const sqlPartitionTakeIDs = `SELECT ` + claimColumnsButKey + `'' FROM kiln_job NOT INDEXED
WHERE id IN (SELECT value FROM json_each(?4))
	AND state = 'available' AND queue = ?1 AND kind = ?2 AND scheduled_at <= ?3
	AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)`

// sqlPartitionRunning counts the running jobs of kind ?1 per partition key
// through kiln_job_running_partition.
const sqlPartitionRunning = `SELECT partition_key, count(*) FROM kiln_job INDEXED BY kiln_job_running_partition
WHERE state = 'running' AND kind = ?1 AND partition_key <> '' GROUP BY partition_key`

// sqlPartitionTake returns the statement that reads (claimColumns of)
// the due available jobs of queue ?1 and kind ?2 at ?3 to claim by key, in
// one statement however many keys: for each member of the JSON object ?4,
// the first n jobs of the key it names in claim order, n being its value
// and at most limit. A paused queue gives none.
//
// SQLite has no LATERAL join, and a LIMIT cannot depend on a row (nor be
// bound without the statement being prepared again whenever its value
// changes: see claimStmts), so each key's jobs are a correlated list
// subquery that reads the first limit entries of the key's range of
// kiln_job_claim_partition (queue, kind, partition_key, priority,
// scheduled_at, then the rowid, which is id), each looked up by rowid, and
// a window function ranks
// them within their key to keep its first n. limit is a power of two at
// least the largest n (partitionTakeLimit): one prepared statement per
// limit, and at most twice the entries taken are read per key. (A walk of
// each range one job at a time would need a seek past the previous job's
// (priority, scheduled_at, id); SQLite seeks that row value only by its
// first one or two columns, and the jobs of one batch share both.)
func sqlPartitionTake(limit int) string {
	if limit == 1 {
		return sqlPartitionTakeFirst
	}
	return fmt.Sprintf(`WITH want(k, n) AS (
	SELECT key, value FROM json_each(?4)
	WHERE value > 0 AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
),
pick AS (
	SELECT j.id, want.n,
		row_number() OVER (PARTITION BY want.k ORDER BY j.priority, j.scheduled_at, j.id) AS r
	FROM want JOIN kiln_job AS j ON j.id IN (
		SELECT id FROM kiln_job INDEXED BY kiln_job_claim_partition
		WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key = want.k AND partition_key <> ''
			AND scheduled_at <= ?3
		ORDER BY priority, scheduled_at, id
		LIMIT %d)
)
SELECT `+claimColumns+` FROM kiln_job WHERE id IN (SELECT id FROM pick WHERE r <= n)`, limit)
}

// sqlPartitionTakeFirst is sqlPartitionTake(1), which takes one job per
// key (every take of a claim's first rotation over the keys): each key's
// first due job is one seek of its range (a correlated scalar subquery),
// with no ranking.
const sqlPartitionTakeFirst = `SELECT ` + claimColumns + ` FROM kiln_job WHERE id IN (
	SELECT (SELECT id FROM kiln_job INDEXED BY kiln_job_claim_partition
		WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND partition_key = want.key AND partition_key <> ''
			AND scheduled_at <= ?3
		ORDER BY priority, scheduled_at, id LIMIT 1)
	FROM json_each(?4) AS want
	WHERE want.value > 0 AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
)`

// partitionTakeLimit returns the LIMIT of the sqlPartitionTake that takes
// up to n jobs of a key: n rounded up to a power of two (claimLimit).
func partitionTakeLimit(n int) int { return claimLimit(n) }

// sqlUnkeyedJobs returns (claimColumns of) the jobs without a key among
// the first ?4 due available jobs of queue ?1 and kind ?2 at ?3 in claim
// order (kiln_job_claim_kind), at most ?5. A paused queue gives none.
const sqlUnkeyedJobs = `SELECT * FROM (SELECT ` + claimColumns + ` FROM kiln_job INDEXED BY kiln_job_claim_kind
	WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND scheduled_at <= ?3
		AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
	ORDER BY priority, scheduled_at, id
	LIMIT ?4)
WHERE partition_key = ''
LIMIT ?5`

// sqlUnkeyedDeep returns (priority, scheduled_at, id, and whether the job
// has no key) the due available jobs of queue ?1 and kind ?2 at ?3 after
// the place (?5, ?6, ?7) in claim order, at most ?4, less the first ?4 of
// the kind in claim order (those sqlUnkeyedJobs looked among), when those
// are ?4 (fewer: every due job of the kind was among them, and it returns
// none): the second window of a claim's search for jobs without a key
// (store.PartitionCursors.SetUnkeyed). Both reads are of
// kiln_job_claim_kind alone, which holds every column they need but the
// key. A paused queue gives none.
const sqlUnkeyedDeep = `WITH head AS (
	SELECT id FROM kiln_job INDEXED BY kiln_job_claim_kind
	WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND scheduled_at <= ?3
	ORDER BY priority, scheduled_at, id
	LIMIT ?4
)
SELECT priority, scheduled_at, id, partition_key = '' FROM kiln_job INDEXED BY kiln_job_claim_kind
WHERE state = 'available' AND queue = ?1 AND kind = ?2 AND scheduled_at <= ?3
	AND (priority, scheduled_at, id) > (?5, ?6, ?7) AND id NOT IN (SELECT id FROM head)
	AND (SELECT count(*) FROM head) >= ?4
	AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
ORDER BY priority, scheduled_at, id
LIMIT ?4`

// sqlPartitionFair returns (claimColumns of, then the running jobs of kind
// ?2 under the job's key in any queue) the due available jobs with a key
// of queue ?1 and kind ?2 at ?3 whose key has fewer than ?4 running jobs
// of the kind, in fair order (priority, then fair_seq: migration 035), walking kiln_job_claim_fair from its front: the index holds
// the key and scheduled_at, so that a job not taken (its key at its limit,
// or not due) is passed over without a read of its row; each entry costs
// one seek of kiln_job_running_partition. The caller steps the rows until
// it has its jobs. A paused queue gives none.
const sqlPartitionFair = `SELECT ` + claimColumns + `, fair_seq,
	(SELECT count(*) FROM kiln_job AS r INDEXED BY kiln_job_running_partition
		WHERE r.state = 'running' AND r.kind = ?2 AND r.partition_key = kiln_job.partition_key AND r.partition_key <> '')
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
const sqlPartitionFairOne = `SELECT ` + claimColumns + `, fair_seq, 0
FROM kiln_job INDEXED BY kiln_job_claim_fair
WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL AND queue = ?1 AND kind = ?2
	AND scheduled_at <= ?3 AND ?4 = 1
	AND NOT EXISTS (SELECT 1 FROM kiln_job AS r INDEXED BY kiln_job_running_partition
		WHERE r.state = 'running' AND r.kind = ?2 AND r.partition_key = kiln_job.partition_key AND r.partition_key <> '')
	AND NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
ORDER BY priority, fair_seq, id`

// sqlFairAfter returns, after a claim in fair order of queue ?1 and kind
// ?2, the priority and tag of the front of the fair order (-1, -1 when it
// is empty) and whether the queue and kind have parked jobs (migration
// 035): two seeks per claim.
const sqlFairAfter = `SELECT coalesce(f.priority, -1), coalesce(f.fair_seq, -1),
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
	mu                     sync.Mutex
	keys, running, unkeyed *sql.Stmt
	unkeyedDeep            *sql.Stmt         // sqlUnkeyedDeep
	keysListed             *sql.Stmt         // sqlPartitionKeysListed (per-key caps)
	keysDrop               *sql.Stmt         // sqlPartitionKeysDrop (after keysListed)
	takeIDs                *sql.Stmt         // sqlPartitionTakeIDs (after keysListed)
	fair, fairOne          *sql.Stmt         // sqlPartitionFair, sqlPartitionFairOne
	fairAfter              *sql.Stmt         // sqlFairAfter
	keyBudgets             *sql.Stmt         // sqlPartitionKeyBudgets (per-key rate limits)
	take                   map[int]*sql.Stmt // by LIMIT (sqlPartitionTake)
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

// prepare prepares on db the statements that a claim of up to max jobs
// may need: sqlPartitionTake for every LIMIT up to partitionTakeLimit(max),
// so that a take of any size finds its statement within the claim's
// transaction (where the writer's only connection cannot prepare for
// later claims). Like stmts, it must not be called inside a writer
// transaction.
func (ps *partitionStmts) prepare(ctx context.Context, db *sql.DB, max int) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, f := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&ps.keys, sqlPartitionKeys},
		{&ps.running, sqlPartitionRunning},
		{&ps.unkeyed, sqlUnkeyedJobs},
		{&ps.unkeyedDeep, sqlUnkeyedDeep},
		{&ps.keyBudgets, sqlPartitionKeyBudgets},
		{&ps.keysListed, sqlPartitionKeysListed},
		{&ps.keysDrop, sqlPartitionKeysDrop},
		{&ps.takeIDs, sqlPartitionTakeIDs},
		{&ps.fair, sqlPartitionFair},
		{&ps.fairOne, sqlPartitionFairOne},
		{&ps.fairAfter, sqlFairAfter},
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
	if ps.take == nil {
		ps.take = make(map[int]*sql.Stmt)
	}
	for limit := 1; limit <= partitionTakeLimit(max); limit *= 2 {
		if ps.take[limit] != nil {
			continue
		}
		s, err := db.PrepareContext(ctx, sqlPartitionTake(limit))
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		ps.take[limit] = s
	}
	return nil
}

// close closes the statements prepared so far.
func (ps *partitionStmts) close() error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var errs []error
	for _, s := range []**sql.Stmt{&ps.keys, &ps.running, &ps.unkeyed, &ps.unkeyedDeep, &ps.keyBudgets, &ps.keysListed, &ps.keysDrop, &ps.takeIDs, &ps.fair, &ps.fairOne, &ps.fairAfter} {
		if *s != nil {
			errs = append(errs, (*s).Close())
			*s = nil
		}
	}
	for limit, s := range ps.take {
		errs = append(errs, s.Close())
		delete(ps.take, limit)
	}
	return errors.Join(errs...)
}

// partitionTx is the statements of partitionStmts for one claim's write
// transaction.
type partitionTx struct {
	ctx                            context.Context
	tx                             *sql.Tx
	ps                             *partitionStmts
	keys, running, unkeyed, update *sql.Stmt // update: sqlClaimUpdateAvailable
	unkeyedDeep                    *sql.Stmt
	keyBudgets, keysListed         *sql.Stmt
	keysDrop                       *sql.Stmt
	takeIDs                        *sql.Stmt
	fair, fairOne                  *sql.Stmt // sqlPartitionFair, sqlPartitionFairOne
	fairAfter                      *sql.Stmt // sqlFairAfter
	countMoves                     *sql.Stmt // sqlCountMoves
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

// bind returns the statements for tx, bound to it (those of
// sqlPartitionTake when used: see partitionTx.take).
func (ps *partitionStmts) bind(ctx context.Context, tx *sql.Tx, st *stmts) *partitionTx {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	bound := func(s *sql.Stmt) *sql.Stmt { return tx.StmtContext(ctx, s) }
	return &partitionTx{ctx: ctx, tx: tx, ps: ps, keys: bound(ps.keys),
		running: bound(ps.running), unkeyed: bound(ps.unkeyed),
		unkeyedDeep: bound(ps.unkeyedDeep),
		keyBudgets:  bound(ps.keyBudgets), keysListed: bound(ps.keysListed),
		keysDrop: bound(ps.keysDrop),
		takeIDs:  bound(ps.takeIDs), fair: bound(ps.fair), fairOne: bound(ps.fairOne), fairAfter: bound(ps.fairAfter), update: tx.StmtContext(ctx, st.claimUpdateAvailable),
		countMoves: tx.StmtContext(ctx, st.countMoves), counted: make(moves, 2)}
}

// take returns sqlPartitionTake for takes of up to n jobs a key, bound to
// the transaction. prepare prepared it, for n up to the claim's Max.
func (t *partitionTx) take(n int) (*sql.Stmt, error) {
	limit := partitionTakeLimit(n)
	t.ps.mu.Lock()
	s := t.ps.take[limit]
	t.ps.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("no statement prepared for a take of %d jobs", n)
	}
	return t.tx.StmtContext(t.ctx, s), nil
}

// partitionSource is store.PartitionRoomSource for one kind of a claim,
// in its write transaction (the database's only writer: the counts of
// running jobs hold until it commits). Each method is one statement, so
// a round of store.ClaimPartitioned is three (Keys, KeysRunning or
// KeyBudgets, Take's read and its UPDATE), and a fourth when it visits the
// jobs without a key, however many keys it visits.
type partitionSource struct {
	tx   *partitionTx
	p    *store.JobClaimParams
	kind string
	// cursors holds where the claims' reads of jobs without a key past
	// their first window start (store.PartitionCursors.Unkeyed).
	cursors *store.PartitionCursors
	// first holds, for each key of the latest KeysRunning, the ID of its
	// first available job in claim order, for the Take that follows it
	// in the same transaction (which clears it): that job is the one
	// Take would seek for a take of 1 job of the key, if it is due.
	first map[string]int64
	// firstJob holds, for each key of the latest KeysRunning with room
	// under the cap, its first available job in claim order as the
	// listing read it (not yet claimed), for the Take that follows it in
	// the same transaction (which clears it): the job a take of 1 job of
	// the key claims, if it is due. Empty when the queue is paused.
	firstJob map[string]*kilntype.JobRow
}

func (p *partitionSource) Keys(ctx context.Context, after string, n int) ([]string, error) {
	rows, err := p.tx.keys.QueryContext(ctx, p.p.Queue, p.kind, after, n)
	if err != nil {
		return nil, fmt.Errorf("list partition keys: %w", err)
	}
	defer rows.Close()
	keys := make([]string, 0, n)
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("list partition keys: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list partition keys: %w", err)
	}
	return keys, nil
}

func (p *partitionSource) KeysRunning(ctx context.Context, after string, n, scan, maxRunning int) ([]store.KeyRunning, bool, error) {
	keys, dead, end, err := p.listKeys(ctx, after, n, scan, maxRunning)
	if err == nil && len(dead) > 0 {
		err = p.dropKeys(ctx, dead)
	}
	if err != nil {
		return nil, false, fmt.Errorf("list partition keys and running jobs: %w", err)
	}
	return keys, end, nil
}

// listKeys steps sqlPartitionKeysListed from after: the keys with an
// available job, each with its running jobs, up to the n-th with fewer
// than maxRunning running or scan keys, whichever comes first, recording
// each one's first job in first; and the keys it passed that have none
// (dead), which it does not count, up to scan of them: past that it stops
// there (end false), so that one listing, which runs in the claim's write
// transaction, walks a bounded number of keys however many a bulk cancel
// or delete left without jobs (their deletion lets the next listing from
// the same place go on past them). end reports that no key with an
// available job follows the last one returned.
func (p *partitionSource) listKeys(ctx context.Context, after string, n, scan, maxRunning int) (keys []store.KeyRunning,
	dead []string, end bool, err error) {
	rows, err := p.tx.keysListed.QueryContext(ctx, p.p.Queue, p.kind, after)
	if err != nil {
		return nil, nil, false, err
	}
	defer rows.Close()
	if p.firstJob == nil {
		p.firstJob = make(map[string]*kilntype.JobRow, n+1)
	}
	clear(p.firstJob)
	keys = make([]store.KeyRunning, 0, n)
	var (
		room    int
		key     string
		running int
		paused  bool
		c       candidate
		id      sql.NullInt64
	)
	for rows.Next() {
		if err := scanListed(rows, &key, &running, &id, &c, &paused); err != nil {
			return nil, nil, false, err
		}
		switch {
		case !id.Valid:
			if dead = append(dead, key); len(dead) >= scan {
				return keys, dead, false, rows.Close()
			}
			continue
		case room == n || len(keys) == scan:
			return keys, dead, false, rows.Close() // a key with an available job follows
		}
		keys = append(keys, store.KeyRunning{Key: key, Running: running})
		if running < maxRunning {
			room++
			if !paused {
				j := &kilntype.JobRow{ID: id.Int64, Kind: p.kind, Priority: c.row.Priority, Attempt: c.row.Attempt,
					MaxAttempts: c.row.MaxAttempts, Partition: key}
				if err := c.fill(j); err != nil {
					return nil, nil, false, err
				}
				p.firstJob[key] = j
			}
		}
	}
	return keys, dead, true, rows.Err()
}

// scanListed reads a row of sqlPartitionKeysListed: the key, its first
// job's ID (NULL: none), its running jobs, the first job's columns
// (listedColumns, into c), and whether the queue is paused. c's slices and texts are fresh
// copies: the caller may keep them.
func scanListed(rows *sql.Rows, key *string, running *int, id *sql.NullInt64, c *candidate, paused *bool) error {
	c.args, c.metadata = nil, nil
	return rows.Scan(key, id, running, &c.args, &c.row.Priority, &c.row.Attempt, &c.row.MaxAttempts,
		&c.createdAt, &c.scheduledAt, &c.tags, &c.metadata, &c.uniqueKey, &c.lastError, paused)
}

// dropKeys deletes from kiln_job_partition_key the keys of dead that still
// have no available job (sqlPartitionKeysDrop).
func (p *partitionSource) dropKeys(ctx context.Context, dead []string) error {
	list, err := json.Marshal(dead)
	if err != nil {
		return err
	}
	if _, err := p.tx.keysDrop.ExecContext(ctx, p.p.Queue, p.kind, string(list)); err != nil {
		return fmt.Errorf("drop keys without available jobs: %w", err)
	}
	return nil
}

func (p *partitionSource) KeyBudgets(ctx context.Context, after string, n, scan int, eligible time.Time) ([]store.KeyTAT, bool, error) {
	var list sql.NullString
	if err := p.tx.keyBudgets.QueryRowContext(ctx, p.p.Queue, p.kind, after, n, scan, micros(eligible)).Scan(&list); err != nil {
		return nil, false, fmt.Errorf("list partition keys and budgets: %w", err)
	}
	p.resetFirst(n)
	var bad error
	// With after "", the first row is the key "" and its own budget.
	keys, end := readKeyList(list.String, n+2, after == "", func(v, tat string) store.KeyTAT {
		var kt store.KeyTAT
		var err error
		if v != "" { // not the key "" of the first row
			kt.Key, err = p.listed(v)
		}
		if err == nil && tat != "" {
			var t int64
			t, err = strconv.ParseInt(tat, 10, 64)
			kt.TAT = fromMicros(t)
		}
		if err != nil {
			bad = err
		}
		return kt
	})
	if bad != nil {
		return nil, false, fmt.Errorf("list partition keys and budgets: %w", bad)
	}
	return keys, end, nil
}

// resetFirst empties first, for a listing of about n keys.
func (p *partitionSource) resetFirst(n int) {
	if p.first == nil {
		p.first = make(map[string]int64, n+1)
	}
	clear(p.first)
}

// listed returns the key of v, a listed key's "ID key", and records the
// ID as the key's first job in first.
func (p *partitionSource) listed(v string) (string, error) {
	id, key, ok := strings.Cut(v, " ")
	first, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil {
		return "", fmt.Errorf("listed key %q: not an ID and a key", v)
	}
	p.first[key] = first
	return key, nil
}

// readKeyList reads a listing of keys (sqlPartitionKeyBudgets) returned as one text (sqlKeyList), in which
// each row holds a key (empty: NULL, once the keys ran out) and the value
// of the key of the row before it (empty: NULL): pair makes each key's
// entry from the key and the value of the row after it. When own is set,
// the first row holds its own key's value instead, and is an entry of its
// own, outside the pairing. It returns the entries in the order of the
// rows (room for n of them), and end: the last row's key is NULL (the
// keys ran out). The keys and values passed to pair are parts of list:
// reading the rows allocates nothing but the entries.
func readKeyList[E any](list string, n int, own bool, pair func(key, v string) E) (entries []E, end bool) {
	entries = make([]E, 0, n)
	var prev string // the key of the row before ("": none, or NULL)
	for first := true; list != ""; first = false {
		key, rest, _ := strings.Cut(list, "\x00")
		v, rest, _ := strings.Cut(rest, "\x00")
		list = rest
		switch {
		case own && first:
			entries = append(entries, pair(key, v))
			continue
		case prev != "":
			entries = append(entries, pair(prev, v))
		}
		prev, end = key, key == ""
	}
	return entries, end
}

func (p *partitionSource) Running(ctx context.Context) (map[string]int, error) {
	rows, err := p.tx.running.QueryContext(ctx, p.kind)
	if err != nil {
		return nil, fmt.Errorf("count running jobs per key: %w", err)
	}
	defer rows.Close()
	running := map[string]int{}
	for rows.Next() {
		var (
			k string
			n int
		)
		if err := rows.Scan(&k, &n); err != nil {
			return nil, fmt.Errorf("count running jobs per key: %w", err)
		}
		running[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count running jobs per key: %w", err)
	}
	return running, nil
}

func (p *partitionSource) Take(ctx context.Context, keys []string, takes []int, empty, window int) ([]*kilntype.JobRow, error) {
	picked := make([]*kilntype.JobRow, 0, sum(takes)+empty)
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
	if len(keys) > 0 {
		keys, takes = p.takeListed(keys, takes, now, &picked)
	}
	if len(keys) > 0 {
		var err error
		if keys, takes, err = p.takeFirst(keys, takes, func(ids []int64) error {
			return read(p.tx.takeIDs, p.p.Queue, p.kind, now, jsonIDs(ids))
		}, &picked); err != nil {
			return nil, err
		}
	}
	if len(keys) > 0 {
		want, err := jsonTakes(keys, takes)
		if err != nil {
			return nil, fmt.Errorf("select jobs by key: %w", err)
		}
		stmt, err := p.tx.take(slices.Max(takes))
		if err != nil {
			return nil, fmt.Errorf("select jobs by key: %w", err)
		}
		if err := read(stmt, p.p.Queue, p.kind, now, want); err != nil {
			return nil, fmt.Errorf("select jobs by key: %w", err)
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

// takeListed appends to *picked the first job of each key of keys whose
// take is 1 and whose first job, as the listing before it read it
// (firstJob), is due at now (Unix microseconds), and returns the keys and
// takes left for a read: the others, and those whose first job was not
// due. It reads nothing: the listing ran in the same write transaction, so
// each such job is still available. It clears firstJob.
func (p *partitionSource) takeListed(keys []string, takes []int, now int64, picked *[]*kilntype.JobRow) ([]string, []int) {
	if len(p.firstJob) == 0 {
		return keys, takes
	}
	defer clear(p.firstJob)
	due := func(i int) *kilntype.JobRow {
		if j := p.firstJob[keys[i]]; j != nil && takes[i] == 1 && micros(j.ScheduledAt) <= now {
			return j
		}
		return nil
	}
	var restKeys []string
	var restTakes []int
	for i, k := range keys {
		if j := due(i); j != nil {
			*picked = append(*picked, j)
		} else {
			restKeys, restTakes = append(restKeys, k), append(restTakes, takes[i])
		}
	}
	return restKeys, restTakes
}

// takeFirst reads (with readIDs, which appends to *picked) the first job
// of each key of keys whose take is 1 and whose first job the listing
// before it found (first), sets each such job's Partition (which
// sqlPartitionTakeIDs leaves out), and returns the keys and takes left
// for a take by key: the others, and those whose first job was not due.
// It clears first.
func (p *partitionSource) takeFirst(keys []string, takes []int, readIDs func([]int64) error,
	picked *[]*kilntype.JobRow) ([]string, []int, error) {
	if len(p.first) == 0 {
		return keys, takes, nil
	}
	defer clear(p.first)
	ids := make([]int64, 0, len(keys))
	keyOf := make(map[int64]string, len(keys))
	for i, k := range keys {
		if id, ok := p.first[k]; ok && takes[i] == 1 {
			ids = append(ids, id)
			keyOf[id] = k
		}
	}
	if len(ids) == 0 {
		return keys, takes, nil
	}
	before := len(*picked)
	if err := readIDs(ids); err != nil {
		return nil, nil, fmt.Errorf("select jobs by ID: %w", err)
	}
	read := (*picked)[before:]
	for _, j := range read {
		j.Partition = keyOf[j.ID]
	}
	if len(read) == len(ids) && len(ids) == len(keys) {
		return nil, nil, nil // the common case: every key's first job
	}
	took := make(map[string]bool, len(read))
	for _, j := range read {
		took[j.Partition] = true
	}
	var restKeys []string
	var restTakes []int
	for i, k := range keys {
		if !took[k] {
			restKeys, restTakes = append(restKeys, k), append(restTakes, takes[i])
		}
	}
	return restKeys, restTakes, nil
}

// jsonTakes encodes keys and takes as the JSON object of sqlPartitionTake:
// each key, a member whose value is its take.
func jsonTakes(keys []string, takes []int) (string, error) {
	b := make([]byte, 0, 2+len(keys)*16)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		q, err := json.Marshal(k)
		if err != nil {
			return "", err
		}
		b = append(b, q...)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(takes[i]), 10)
	}
	return string(append(b, '}')), nil
}

// sum returns the sum of ns.
func sum(ns []int) int {
	s := 0
	for _, n := range ns {
		s += n
	}
	return s
}

// FairOrder claims, in fair order, the kind's due available jobs with a
// key of keys with room, as store.PartitionFairOrder says: it steps
// sqlPartitionFair (which passes over the keys at maxRunning in SQLite)
// until it has n jobs, takes each job whose key's running jobs and jobs
// taken before it number fewer than maxRunning (0: no cap), and moves them
// to running in the claim's write transaction (the database's only
// writer: no count changes before it commits).
func (p *partitionSource) FairOrder(ctx context.Context, n, maxRunning int) ([]*kilntype.JobRow, error) {
	limit := maxRunning
	if limit <= 0 {
		limit = math.MaxInt32
	}
	stmt := p.tx.fair
	if limit == 1 {
		stmt = p.tx.fairOne
	}
	rows, err := stmt.QueryContext(ctx, p.p.Queue, p.kind, micros(p.p.Now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim in fair order: %w", err)
	}
	defer rows.Close()
	var (
		picked           = make([]*kilntype.JobRow, 0, n)
		seen             = make(map[string]int, n)
		c                candidate
		running, seq     int64
		reachP, reachSeq int64 = -1, -1 // the last job taken's priority and tag
	)
	for len(picked) < n && rows.Next() {
		j := new(kilntype.JobRow)
		if err := rows.Scan(append(c.dests(j), &seq, &running)...); err != nil {
			return nil, fmt.Errorf("claim in fair order: %w", err)
		}
		before := seen[j.Partition]
		seen[j.Partition] = before + 1
		if int(running)+before >= limit {
			continue
		}
		if err := c.fill(j); err != nil {
			return nil, err
		}
		picked = append(picked, j)
		reachP, reachSeq = int64(j.Priority), seq
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("claim in fair order: %w", err)
	}
	short := len(picked) < n
	jobs, err := p.claim(ctx, picked)
	if err != nil || maxRunning <= 0 || p.tx.fairAfter == nil {
		return jobs, err
	}
	return jobs, p.fairAfter(ctx, jobs, maxRunning, short, reachP, reachSeq)
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

// fairAfter bounds the next walks past keys at their limit (migration
// 035): it gives back the next parked job of each key
// that the claim took jobs of (as many as it took), and, when the walk
// reached fairParkGap levels or more past the front, or came back short,
// parks what the walk passed over of the keys at their limit (all but
// each one's first maxRunning entries). One statement (two seeks) per
// claim when nothing is parked and the walk was shallow.
func (p *partitionSource) fairAfter(ctx context.Context, jobs []*kilntype.JobRow, maxRunning int, short bool, reachP, reachSeq int64) error {
	fairStats.Claims.Add(1)
	var frontP, frontSeq int64
	var parked bool
	if err := p.tx.fairAfter.QueryRowContext(ctx, p.p.Queue, p.kind).Scan(&frontP, &frontSeq, &parked); err != nil {
		return fmt.Errorf("fair order: front: %w", err)
	}
	if parked && p.tx.ps.sweepDue(p.p.Queue, p.kind) {
		if err := p.fairSweep(ctx, maxRunning); err != nil {
			return err
		}
	}
	if parked && len(jobs) > 0 {
		taken := make(map[string]int, len(jobs))
		var keys []string
		for _, j := range jobs {
			if taken[j.Partition] == 0 {
				keys = append(keys, j.Partition)
			}
			taken[j.Partition]++
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
			n, err := execCount(p.tx.tx.ExecContext(ctx, sqlFairUnpark, p.p.Queue, p.kind, k, taken[k]))
			if err != nil {
				return fmt.Errorf("fair order: unpark: %w", err)
			}
			fairStats.Unparked.Add(int64(n))
		}
	}
	if frontSeq < 0 {
		return nil // nothing left in the fair order
	}
	if !p.tx.ps.parkDue(p.p.Queue, p.kind, short, frontP, frontSeq, reachP, reachSeq) {
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
	_ store.PartitionRoomSource = (*partitionSource)(nil)
	_ store.PartitionFairOrder  = (*partitionSource)(nil)
)
