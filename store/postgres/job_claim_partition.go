package postgres

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlPartitionKeys returns up to $4 partition keys other than ” of the
// available jobs of queue $1 and kind $2, in byte order after $3, by a
// loose index scan of kiln_job_partition_available: one seek per key,
// however many jobs each key has queued.
const sqlPartitionKeys = `WITH RECURSIVE keys(k) AS (
	(SELECT partition_key FROM {s}.kiln_job
	WHERE state = 'available' AND queue = $1 AND kind = $2 AND partition_key <> '' AND partition_key > $3
	ORDER BY partition_key LIMIT 1)
	UNION ALL
	SELECT (SELECT partition_key FROM {s}.kiln_job
		WHERE state = 'available' AND queue = $1 AND kind = $2 AND partition_key <> '' AND partition_key > keys.k
		ORDER BY partition_key LIMIT 1)
	FROM keys WHERE keys.k IS NOT NULL
)
SELECT k FROM keys WHERE k IS NOT NULL LIMIT $4`

// sqlPartitionKeyBudgets returns (k, tat) for the partition keys other
// than "" of the available jobs of queue $1 and kind $2, in byte order
// after $3, each with the theoretical arrival time of its per-key rate
// budget of kind $2 (NULL: none), up to the $4-th key whose tat is NULL
// or not after $6, or $5 keys, whichever comes first; then a row whose k
// is NULL if the keys ran out first. When $3 is "", the first row is the
// key "" and its budget (the jobs without a key). keys walks
// kiln_job_partition_available as sqlPartitionKeys does (one seek per key),
// looking each key's budget up by primary key as it goes, and counts the
// keys with room (found) to know when to stop.
const sqlPartitionKeyBudgets = `WITH RECURSIVE keys(k, i, found, tat) AS (
	SELECT $3::text COLLATE "C", 0, 0, NULL::timestamptz
	UNION ALL
	SELECT n.k, keys.i + 1,
		keys.found + CASE WHEN n.k IS NOT NULL AND coalesce(n.tat <= $6, true) THEN 1 ELSE 0 END, n.tat
	FROM keys CROSS JOIN LATERAL (
		SELECT nk.k, (SELECT tat FROM {s}.kiln_rate_limit_state
			WHERE kind = $2 AND per_key AND key = nk.k) AS tat
		FROM (SELECT (SELECT partition_key FROM {s}.kiln_job
			WHERE state = 'available' AND queue = $1 AND kind = $2 AND partition_key <> '' AND partition_key > keys.k
			ORDER BY partition_key LIMIT 1) AS k OFFSET 0) AS nk
		OFFSET 0
	) AS n
	WHERE keys.k IS NOT NULL AND keys.i < $5 AND keys.found < $4
)
SELECT '', (SELECT tat FROM {s}.kiln_rate_limit_state WHERE kind = $2 AND per_key AND key = ''), 0
WHERE $3 = ''
UNION ALL
SELECT k, tat, i FROM keys WHERE i > 0
ORDER BY 3`

// sqlPartitionRunning counts the running jobs of kind $1 per partition key
// from the kind's entries of kiln_job_running (migration 032), one row
// each: as many entries as jobs of the kind run.
const sqlPartitionRunning = `SELECT partition_key, count(*) FROM {s}.kiln_job
WHERE state = 'running' AND kind COLLATE "C" = $1 AND partition_key <> ''
GROUP BY partition_key`

// sqlPartitionClaimTail returns the CTEs that sqlPartitionTake and
// sqlPartitionRound end with, given the placeholders of their parameters
// (queue $1 and kind $2 in both, keyed the CTE before): unkeyed locks up
// to empty of the due (at now) available jobs without a key, skipping the
// jobs other claims hold, among the kind's first window in claim order
// (unkeyed_head, from kiln_job_claim_kind) and, when that window is full
// and holds fewer than empty jobs without a key, among the next window of
// the kind's jobs after the place (deepP, deepS, deepI) in claim order,
// less those of the first window (unkeyed_deep; see
// store.PartitionCursors.SetUnkeyed); deep says whether the second window
// was read, how many jobs it read and the place of its last (NULL if
// none), for the caller to record. claimed moves the locked jobs and
// keyed's to running, leased by leasedBy until leaseEnd, or, when that is
// NULL, for leaseLen from now(); counted writes the counter deltas (each
// job leaves available for running, in queue $1). The UPDATE finds the
// locked jobs by the column by of keyed and unkeyed: id (a primary-key
// lookup each), or ctid (the locked row versions' addresses, read by a
// TID scan, for sqlPartitionRound: see there).
func sqlPartitionClaimTail(by, now, empty, window, leasedBy, leaseEnd, leaseLen, deepP, deepS, deepI string) string {
	return fmt.Sprintf(`unkeyed_head AS MATERIALIZED (
	SELECT id, partition_key FROM {s}.kiln_job
	WHERE state = 'available' AND queue = $1 AND kind = $2 AND scheduled_at <= %[1]s
		AND %[2]s::integer > 0 AND NOT EXISTS (SELECT FROM paused)
	ORDER BY priority, scheduled_at, id
	LIMIT %[3]s
),
unkeyed_more AS MATERIALIZED (
	SELECT count(*) >= %[3]s::integer AND count(*) FILTER (WHERE partition_key = '') < %[2]s::integer AS more
	FROM unkeyed_head
),
unkeyed_deep AS MATERIALIZED (
	SELECT d.id, d.partition_key, d.priority, d.scheduled_at, row_number() OVER () AS n FROM (
		SELECT id, partition_key, priority, scheduled_at FROM {s}.kiln_job
		WHERE state = 'available' AND queue = $1 AND kind = $2 AND scheduled_at <= %[1]s
			AND (priority, scheduled_at, id) > (%[4]s::integer, %[5]s::timestamptz, %[6]s::bigint)
			AND %[2]s::integer > 0 AND (SELECT more FROM unkeyed_more) AND id NOT IN (SELECT id FROM unkeyed_head)
		ORDER BY priority, scheduled_at, id
		LIMIT %[3]s
	) AS d
),
unkeyed AS MATERIALIZED (
	SELECT c.id, c.ctid FROM (
		SELECT id, partition_key FROM unkeyed_head UNION ALL SELECT id, partition_key FROM unkeyed_deep
	) AS w
	CROSS JOIN LATERAL (
		SELECT id, ctid FROM {s}.kiln_job WHERE id = w.id AND state = 'available'
		FOR UPDATE SKIP LOCKED
	) AS c
	WHERE w.partition_key = ''
	LIMIT %[2]s
),
deep AS MATERIALIZED (
	SELECT m.more, (SELECT count(*) FROM unkeyed_deep)::integer AS n, l.priority, l.scheduled_at, l.id
	FROM unkeyed_more AS m LEFT JOIN unkeyed_deep AS l ON l.n = (SELECT max(n) FROM unkeyed_deep)
`, now, empty, window, deepP, deepS, deepI) + "),\n" + sqlPartitionClaimed(by, now, leasedBy, leaseEnd, leaseLen)
}

// sqlPartitionClaimed returns the CTEs claimed and counted of
// sqlPartitionClaimTail (see there), which move the jobs of keyed and
// unkeyed to running, found by their column by.
func sqlPartitionClaimed(by, now, leasedBy, leaseEnd, leaseLen string) string {
	return fmt.Sprintf(`claimed AS (
	UPDATE {s}.kiln_job AS j SET `+claimSet("%[1]s", "%[2]s", "%[3]s", "%[4]s")+`
	WHERE EXISTS (SELECT FROM async)
		AND j.%[5]s = ANY(ARRAY(SELECT %[5]s FROM keyed UNION ALL SELECT %[5]s FROM unkeyed))
	RETURNING `+qualified("j", jobColumns)+`
),
counted AS (
	`+countMoves("claimed AS c", "$1", "'running'", "$1", "'available'")+`
)`, now, leasedBy, leaseEnd, leaseLen, by)
}

// sqlPartitionNoUnkeyed stands for the CTEs unkeyed and deep of
// sqlPartitionClaimTail in a round that takes no job without a key
// (sqlPartitionRoundKeyed): no job, and a deep read that did not happen.
// PostgreSQL starts every node of a statement's plan at each execution,
// including those whose one-time filter then skips them; the five CTEs of
// the jobs without a key are a fifth of the round's plan.
const sqlPartitionNoUnkeyed = `unkeyed AS MATERIALIZED (
	SELECT NULL::bigint AS id, NULL::tid AS ctid WHERE false
),
deep AS MATERIALIZED (
	SELECT false AS more, 0 AS n, NULL::integer AS priority, NULL::timestamptz AS scheduled_at, NULL::bigint AS id
)`

// deepColumns are the columns of the CTE deep of sqlPartitionClaimTail
// that sqlPartitionTake and sqlPartitionRound return after a job's.
const deepColumns = `d.more, d.n, d.priority, d.scheduled_at, d.id`

// deepRead is what a claim's statement says of its read of the jobs
// without a key past its first window (the CTE deep of
// sqlPartitionClaimTail).
type deepRead struct {
	more bool // the second window was read
	n    int  // the jobs it read
	pos  struct {
		priority *int
		at       *time.Time
		id       *int64
	}
}

// dest returns the scan targets of deepColumns.
func (d *deepRead) dest() []any { return []any{&d.more, &d.n, &d.pos.priority, &d.pos.at, &d.pos.id} }

// deepArgs returns the place after which a claim of queue and kind reads
// its second window of jobs without a key: the cursors' record
// (store.PartitionCursors.Unkeyed), or, at first, a place before every job.
func deepArgs(cursors *store.PartitionCursors, queue, kind string) []any {
	pos := cursors.Unkeyed(queue, kind)
	if pos.ID == 0 {
		return []any{math.MinInt32, pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, int64(0)}
	}
	return []any{pos.Priority, pos.ScheduledAt, pos.ID}
}

// record sets where the next read past the first window of queue and
// kind starts, when this one read a second window
// (store.PartitionCursors.SetUnkeyed).
func (d *deepRead) record(cursors *store.PartitionCursors, queue, kind string, window int) {
	if !d.more {
		return
	}
	var last store.ClaimPos
	if d.pos.id != nil { // it read a job
		last = store.ClaimPos{Priority: *d.pos.priority, ScheduledAt: *d.pos.at, ID: *d.pos.id}
	}
	cursors.SetUnkeyed(queue, kind, last, d.n, window)
}

// sqlPartitionTake moves to running, and returns, the available jobs of
// queue $1 and kind $2 due at $5: for each key $3[i], its first $4[i] in
// claim order (one range of kiln_job_partition_available each: the key is
// sought as a range, not an equality, so that partition_key is not a
// constant of the subquery and its ORDER BY, which starts with it, is the
// order of that index alone, which no other gives without a sort; see
// sortsDisabled), and the first
// $6 without a key among the kind's first $7 in claim order
// (kiln_job_claim_kind) and, when those are $7 with fewer than $6 without
// a key, the next $7 after the place ($11, $12, $13) in claim order
// (sqlPartitionClaimTail), skipping the jobs other claims hold. The jobs
// are leased by $8 until $9, or, when $9 is NULL, for $10 from now(). A
// paused queue gives none. As sqlClaim, it commits asynchronously, and
// writes its counter deltas (counted: each job it takes leaves available
// for running, in queue $1). Each row is a claimed job followed by
// deepColumns; a take that claims no job returns one row whose job
// columns are NULL.
var sqlPartitionTake = `WITH paused AS MATERIALIZED (
	SELECT FROM {s}.kiln_queue WHERE name = $1 AND paused
),
async AS MATERIALIZED (
	SELECT set_config('synchronous_commit', 'off', true)
),
keyed AS MATERIALIZED (
	SELECT c.id FROM unnest($3::text[], $4::integer[]) AS v(k, n)
	CROSS JOIN LATERAL (
		SELECT id FROM {s}.kiln_job
		WHERE state = 'available' AND queue = $1 AND kind = $2 AND partition_key >= v.k AND partition_key <= v.k
			AND partition_key <> '' AND scheduled_at <= $5 AND NOT EXISTS (SELECT FROM paused)
		ORDER BY partition_key, queue, priority, scheduled_at, id
		LIMIT v.n
		FOR UPDATE SKIP LOCKED
	) AS c
),
` + sqlPartitionClaimTail("id", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13") + `
SELECT ` + qualified("c", jobColumns) + `, ` + deepColumns + `
FROM deep AS d LEFT JOIN claimed AS c ON true`

// sqlPartitionRound is one round of a claim by partition key
// (store.PartitionRounder.Round) in one statement: it visits the keys
// other than "" of the kind $2's available jobs of queue $1, in byte
// order after $3, one seek of kiln_job_partition_available each (a loose
// index scan), and allots each key min($5, what is left of $4, and, when
// $6 > 0, $6 less the key's running jobs of the kind), at least 0; it
// stops once the allotments add up to $4, after $7 keys, or when the keys
// run out. The seek lands on the key's first available job of the queue
// in claim order; under a per-key limit ($6 > 0) the step then counts the
// key's running jobs of the kind, one seek of kiln_job_running (at most
// $6 entries). (The OFFSET 0s keep the subqueries of a step from being
// pulled up into it, which would run the key's seek and count once per
// use of their columns.) keyed then takes each visited key's allotment of
// its due jobs at $10 in claim order, and unkeyed the first $8 jobs
// without a key among the kind's first $9 and, when those are $9 with
// fewer than $8 without a key, the next $9 after the place ($14, $15,
// $16) in claim order (sqlPartitionClaimTail), skipping the jobs other
// claims hold. The jobs are leased by $11 until $12, or, when $12 is NULL,
// for $13 from now(); a paused queue gives none. As sqlClaim, it commits
// asynchronously and writes its counter deltas.
//
// Until migration 024 the walk sought each key in an index of available
// jobs (kiln_job_claim_partition) and counted its running jobs in another
// (kiln_job_running_partition): two seeks per key. From 024 to 032 one
// index, kiln_job_partition, held each key's running jobs before its
// available ones, and one seek did both; it also visited the keys whose
// jobs all ran. Since 032 the running jobs have one entry each, in
// kiln_job_running, which every read of running jobs shares, and the walk
// seeks twice again, but both seeks are in narrower indexes and the claim
// writes one running entry per job instead of two (docs/benchmarks.md,
// "One running entry per job (pgrun, 2026-12-07 tenth session)").
//
// The walk's seek of a key reads its first job in claim order (the index's
// order within the key), and keeps that row's address (ctid) and whether
// it is due. Under a per-key limit ($6 > 0), a key allotted one job whose
// first job is due takes that job by its address (a TID scan: one heap
// page, already read by the seek), re-checked available, due, of the queue
// and kind once locked; any other key with room takes its allotment from
// its range of kiln_job_partition_available (as sqlPartitionTake). The UPDATE
// then finds the locked jobs by their addresses too (a TID scan, instead
// of a primary-key lookup per job). So a claim of one job per key seeks
// each key once, where it sought the key's range a second time and each
// job's ID: 26.5 buffers per job in a burn-down over 1,000 keys, against
// 23.2 now (docs/benchmarks.md, "Per-key claims ... (issue 13,
// PostgreSQL, 2026-12-05 evening)"). A key whose first job another
// transaction holds gets none in this round (the range would have given
// its next one), and a job that another transaction changed after the
// statement's snapshot but left available is locked in its new version,
// which the UPDATE's TID scan does not see: it stays available, for a
// later claim. Claims of a capped kind are serialized by the kind's lock,
// so the holder can only be a statement other than a claim. Without a
// per-key limit ($6 = 0, fair rotation, whose claims are not serialized)
// every key takes from its range, as before.
//
// Each row is a claimed job followed by the walk's outcome: the last key
// visited ($3 if none), the number of keys visited, and whether the keys
// ran out (walked: the walk found no key past the last, or one more seek
// finds none, as when the allotments are full at the last key); then
// deepColumns. A round
// that claims no job returns one row whose job columns are NULL.
//
// The running jobs it counts are those committed when the statement
// starts (READ COMMITTED): under the kind's advisory lock, taken by an
// earlier statement of the same transaction (sqlRoundSettings), every
// claim of the kind that committed before is counted, and none commits
// meanwhile.
//
// sqlPartitionRoundKeyed is the same round for $8 = 0 (no job without a
// key to take: every round but the first of a rotation), without the
// CTEs that read those jobs (sqlPartitionNoUnkeyed instead) and without
// their parameters: $8 is now, $9 to $11 the lease ($11 to $13 above).
// PostgreSQL starts every node of a plan at each execution, those that a
// one-time filter then skips included: under callgrind, a claim and
// finish of a job over 1,000 keys at a limit of 1 cost 2.4k instructions
// less this way (docs/benchmarks.md, "Per-key claims on PostgreSQL: where
// the burn-down's extra cost is").
var (
	sqlPartitionRound = partitionRound("$10",
		sqlPartitionClaimTail("ctid", "$10", "$8", "$9", "$11", "$12", "$13", "$14", "$15", "$16"))
	sqlPartitionRoundKeyed = partitionRound("$8", sqlPartitionNoUnkeyed+",\n"+sqlPartitionClaimed("ctid", "$8", "$9", "$10", "$11"))
)

// sqlPartitionRoundOne is sqlPartitionRoundKeyed for a per-key limit of 1
// ($6 = 1, and $5 >= 1), with the parameters that limit fixes left out:
// queue $1, kind $2, after $3, need $4, scan $5, now $6, the lease $7 to
// $9. A key's room is then 1 when no job of the kind with that key runs
// (NOT EXISTS, one seek of kiln_job_running) and 0 otherwise, so the step
// needs no count of a key's running jobs nor the subqueries around the
// seeks; keyed takes the key's first job by its address when it is due
// and the key's first due job otherwise, and the UPDATE reads the
// addresses of keyed alone. Each row is a job and the walk's outcome as
// in sqlPartitionRoundKeyed, and deepColumns' constants. The walk's
// outcome is one aggregate over its rows: it visits keys in increasing
// byte order, so the last key visited is the largest. Under callgrind, a
// claim and finish of a job over 1,000 keys at a limit of 1 cost 7.3k to
// 8.4k instructions less than with sqlPartitionRoundKeyed
// (docs/benchmarks.md, "Per-key claims on PostgreSQL (issue 13,
// 2026-12-06 fifth session)").
var sqlPartitionRoundOne = `WITH RECURSIVE paused AS MATERIALIZED (
	SELECT FROM {s}.kiln_queue WHERE name = $1 AND paused
),
async AS MATERIALIZED (
	SELECT set_config('synchronous_commit', 'off', true)
),
keys(k, i, total, first, due) AS (
	SELECT $3::text COLLATE "C", 0, 0, NULL::tid, false
	UNION ALL
	SELECT f.partition_key, keys.i + 1, keys.total + f.room,
		CASE WHEN f.room = 1 THEN f.ctid END, f.room = 1 AND f.scheduled_at <= $6
	FROM keys LEFT JOIN LATERAL (
		SELECT a.partition_key, a.ctid, a.scheduled_at, (NOT EXISTS (SELECT FROM {s}.kiln_job
				WHERE state = 'running' AND kind COLLATE "C" = $2 AND partition_key = a.partition_key))::integer AS room
		FROM (SELECT partition_key, ctid, scheduled_at FROM {s}.kiln_job
			WHERE state = 'available' AND queue = $1 AND kind = $2 AND partition_key <> '' AND partition_key > keys.k
			ORDER BY partition_key, queue, priority, scheduled_at, id LIMIT 1) AS a
	) AS f ON true
	WHERE keys.k IS NOT NULL AND keys.i < $5::integer AND keys.total < $4::integer
),
claimed AS (
	UPDATE {s}.kiln_job AS j SET ` + claimSet("$6", "$7", "$8", "$9") + `
	WHERE EXISTS (SELECT FROM async) AND j.ctid = ANY(ARRAY(
	SELECT c.ctid FROM keys CROSS JOIN LATERAL (
		SELECT ctid FROM {s}.kiln_job
		WHERE ctid = keys.first AND state = 'available' AND queue = $1 AND kind = $2 AND scheduled_at <= $6
			AND NOT EXISTS (SELECT FROM paused)
		FOR UPDATE SKIP LOCKED
	) AS c
	WHERE keys.due
	UNION ALL
	SELECT c.ctid FROM keys CROSS JOIN LATERAL (
		SELECT ctid FROM {s}.kiln_job
		WHERE state = 'available' AND queue = $1 AND kind = $2 AND partition_key >= keys.k AND partition_key <= keys.k
			AND partition_key <> '' AND scheduled_at <= $6 AND NOT EXISTS (SELECT FROM paused)
		ORDER BY partition_key, queue, priority, scheduled_at, id
		LIMIT 1
		FOR UPDATE SKIP LOCKED
	) AS c
	WHERE keys.first IS NOT NULL AND NOT keys.due))
	RETURNING ` + qualified("j", jobColumns) + `
),
counted AS (
	` + countMoves("claimed AS c", "$1", "'running'", "$1", "'available'") + `
),
visited AS MATERIALIZED (
	SELECT max(k) AS last, max(i) FILTER (WHERE k IS NOT NULL) AS n, bool_or(k IS NULL) AS ended FROM keys
),
walked AS MATERIALIZED (
	SELECT last, n, ended OR (SELECT partition_key FROM {s}.kiln_job
		WHERE state = 'available' AND queue = $1 AND kind = $2 AND partition_key <> '' AND partition_key > last
		ORDER BY partition_key LIMIT 1) IS NULL AS ended
	FROM visited
)
SELECT ` + qualified("c", jobColumns) + `, w.last, w.n, w.ended,
	false, 0, NULL::integer, NULL::timestamptz, NULL::bigint
FROM walked AS w LEFT JOIN claimed AS c ON true`

// sqlPartitionInOrder is the in-order claim of a kind capped per key
// (store.PartitionInOrder.InOrder): it moves to running, and returns, up
// to $4 of the available jobs of queue $1 and kind $2 due at $3 among the
// first $5 in claim order: each job without a key, and each job with a key
// whose running jobs of the kind number fewer than $6, at most $6 less
// those per key, its first in claim order. The jobs are leased by $7 until
// $8, or, when $8 is NULL, for $9 from now(). A paused queue gives none.
// It reads past ($10, $11, $12) in claim order, the Store's mark of its
// last full in-order claim of the queue and kind (claimMarks, as the plain
// claim's: the index entries of the jobs claimed before it stay in
// kiln_job_claim_kind until a VACUUM), or from the front.
//
// running reads the kind's running jobs with a key once per claim, at most
// $13 of them ($13 is the window $5, or 0: see runningReads), from
// kiln_job_running (an index scan of the kind's range, in its order: the
// ORDER BY keeps the planner from a bitmap scan, which would read the row
// of every entry, the dead ones of the jobs finished since the last VACUUM
// included; an index scan fetches each dead entry's row once, then skips
// the entry); wide says whether it stopped at $13 (there may be more).
// taken reads the kind's range of kiln_job_claim_kind in claim order and
// locks as it goes (FOR UPDATE SKIP LOCKED, as the plain claim), up to $5
// rows, numbers them (n) and gives each its key's room, $6 less the key's
// running jobs: when running read them all, $6 for a key that none of
// them has (a probe of a hash table of the kind's running keys, built
// once per claim: PostgreSQL hashes NOT IN over a CTE's rows when it
// expects more than a row or two to probe it), and 0 for one that has
// under a limit of 1; otherwise (wide, or a key that runs under a limit
// above 1) one seek of kiln_job_running per job (the kind and key, at
// most $6 entries and those of finished jobs; an index scan: the ORDER
// BY, the index's order, keeps the planner from a bitmap scan). So a
// claim reads at most its window of running entries, and seeks, which
// cost several times what an entry read does, only when more jobs of the
// kind run than it may read. It keeps the first $4 with room and stops
// reading there: in a burn-down over many keys, the jobs at the front of
// the claim order are mostly of keys with nothing running, and it reads
// about as many rows as the plain claim does. taken keeps of each job its
// row address (ctid), its number n (claim order), and what picked needs to
// choose. picked keeps, of those, each key's first jobs in claim order up
// to its room (a sort of the few rows taken, by key, and their rank within
// the key by n, a window function); under a limit of 1
// (sqlPartitionInOrderOne), where every job taken with a key has a room of
// 1, the key's first by DISTINCT ON over the same sort (no window function,
// 3.8k database instructions less per claimed and finished job in
// storecost's burn-down over 1,000 keys, docs/benchmarks.md, "PostgreSQL
// per key, pgwalk, 2026-12-07 thirteenth session"), and since 2026-12-07
// by an int8 instead of the key's text: the key's hash
// (hashtextextended), or for a job without a key -n, a group of its own.
// Two keys with the same hash (or a hash equal to a job's -n) make one
// group, whose first job alone is picked: the other key, which may have
// room, skips its turn in this claim (its job stays available, for the next
// one), and no key ever gets more than its one job. The
// running jobs are those committed when the statement starts: under the
// kind's advisory lock, taken by an earlier statement of the same
// transaction (sqlRoundSettings, as for sqlPartitionRound), every claim of
// the kind that committed before is counted, and none commits meanwhile.
//
// The UPDATE finds the picked jobs by their row addresses (a TID scan, one
// heap fetch each; sequential scans are off in the transaction, see
// sqlRoundSettings), as the rounds' does, where it looked each up by
// primary key (an index descent, then the heap fetch). The address taken
// keeps is that of the row version that its lock took. That is the version
// the statement's snapshot sees, unless another transaction changed the
// job after the snapshot was taken and before the lock, and left it
// available, due, of the queue and kind and past the mark (the lock
// re-checks those on the newest version, READ COMMITTED): then the lock
// takes the newest version, which the snapshot does not see, and neither
// does the UPDATE's TID scan, under the same snapshot (by primary key, it
// found the old version and followed it to the new one). Such a job is
// locked but not claimed: it stays available until this transaction ends,
// for a later claim. So counted does not count picked, as sqlClaimPlain's
// does, but the picked jobs that the snapshot sees by the same addresses
// (sqlCountPickedSeen: a second TID scan): they are the UPDATE's rows,
// since the statement holds every picked row's lock (nothing changes them
// in between) and its own UPDATE does not change what its snapshot sees.
// No job is claimed twice (each was locked by this statement and found
// available), none is lost (a job picked and not claimed stays available,
// and the claim returns fewer than $4 jobs, so its mark does not move past
// it: claimMarks.done), no key runs more than its limit (a job not claimed
// does not run), and the counters move by the jobs claimed
// (TestPartitionInOrderChangedAfterSnapshot). Under callgrind, in
// storecost's burn-down over 1,000 keys at a limit of 1 (claims of 180 and
// 20 in turn), the addresses, a narrower taken and the int8 of
// DISTINCT ON cost 6.7k instructions per claimed and finished job less,
// where the count by address costs 1.6k of what the UPDATE by address saves
// (docs/benchmarks.md, "PostgreSQL in-order claim by row address (pgcount,
// 2026-12-07 sixteenth session)").
//
// Each row is a claimed job followed by whether the jobs picked are the
// first rows that taken read (numbered 1 to their count: one aggregate
// over picked), none passed over (of a key without room, or beyond its
// room): only then may the mark move past them, since a key's job left
// behind the mark would otherwise be claimed after a later one of
// the same key; and wide. Under callgrind (storecost, 1,000 keys, a limit
// of 1, 200 jobs running) a claim and finish in claim order cost 225.5k
// instructions per job, where the walk of keys cost 277.3k and the plain
// claim 175.9k (docs/benchmarks.md, "PostgreSQL per-key claims,
// 2026-12-06 seventh session"), when the seek read kiln_job_partition,
// whose running entry each claim of a keyed job added beside its
// kiln_job_state_inflight's; since migration 032 (and its contract, 033)
// a claim adds one running entry, in kiln_job_running (docs/benchmarks.md,
// "One running entry per job (pgrun, 2026-12-07 tenth session)"). The seek
// per job cost 15.7k instructions per job of such a burn-down; the read of
// the running keys once per claim instead, 3.7k less in all
// (docs/benchmarks.md, "PostgreSQL per key, pgkey8, 2026-12-07 twelfth
// session").
var (
	sqlPartitionInOrder = partitionInOrder(`w.ctid, w.partition_key, w.room, w.n`, `	SELECT r.ctid, r.n FROM (
		SELECT ctid, n, room, row_number() OVER (PARTITION BY partition_key ORDER BY n) AS rank
		FROM taken
	) AS r
	WHERE r.rank <= r.room`)
	sqlPartitionInOrderOne = partitionInOrder(`w.ctid, w.n,
		CASE WHEN w.partition_key = '' THEN -w.n ELSE hashtextextended(w.partition_key, 0) END AS k`,
		`	SELECT DISTINCT ON (k) ctid, n FROM taken
	ORDER BY k, n`)
)

// partitionInOrder returns sqlPartitionInOrder's text with columns for the
// columns of its CTE taken (of w: ctid, partition_key, n and room) and
// picked for the body of its CTE picked: the ctid and n of the jobs of
// taken to claim.
func partitionInOrder(columns, picked string) string {
	return `WITH paused AS MATERIALIZED (
	SELECT FROM {s}.kiln_queue WHERE name = $1 AND paused
),
async AS MATERIALIZED (
	SELECT set_config('synchronous_commit', 'off', true)
),
running AS MATERIALIZED (
	SELECT partition_key FROM {s}.kiln_job
	WHERE state = 'running' AND kind COLLATE "C" = $2 AND partition_key > ''
	ORDER BY partition_key
	LIMIT $13
),
wide AS MATERIALIZED (
	SELECT count(*) >= $13::integer AS wide FROM running
),
taken AS MATERIALIZED (
	SELECT ` + columns + ` FROM (
		SELECT c.ctid, c.partition_key, row_number() OVER () AS n,
			CASE WHEN c.partition_key = '' THEN $4::integer
			WHEN NOT (SELECT wide FROM wide) AND c.partition_key NOT IN (SELECT partition_key FROM running) THEN $6::integer
			WHEN NOT (SELECT wide FROM wide) AND $6::integer = 1 THEN 0
			ELSE $6::integer - (SELECT count(*) FROM (
				SELECT FROM {s}.kiln_job
				WHERE state = 'running' AND kind COLLATE "C" = $2 AND partition_key = c.partition_key
				ORDER BY partition_key, id
				LIMIT $6::integer) AS r)::integer END AS room
		FROM (
			SELECT ctid, partition_key FROM {s}.kiln_job
			WHERE state = 'available' AND queue = $1 AND kind = $2 AND scheduled_at <= $3
				AND (priority, scheduled_at, id) > ($10::integer, $11::timestamptz, $12::bigint)
				AND NOT EXISTS (SELECT FROM paused)
			ORDER BY priority, scheduled_at, id
			LIMIT $5
			FOR UPDATE SKIP LOCKED
		) AS c
	) AS w
	WHERE w.room > 0
	LIMIT $4
),
picked AS MATERIALIZED (
` + picked + `
),
` + sqlCountPickedSeen + `
UPDATE {s}.kiln_job AS j SET ` + claimSet("$3", "$7", "$8", "$9") + `
WHERE EXISTS (SELECT FROM async) AND j.ctid = ANY(ARRAY(SELECT ctid FROM picked))
RETURNING ` + qualified("j", jobColumns) + `,
	(SELECT count(*) = coalesce(max(n), 0) FROM picked),
	(SELECT wide FROM wide)`
}

// sqlCountPickedSeen is the counted CTE of sqlPartitionInOrder: the
// counter deltas of the picked jobs (ctid) that its UPDATE moves from
// available to running in queue $1, those whose row version at that
// address the statement's snapshot sees (a TID scan under the same
// snapshot as the UPDATE's; see sqlPartitionInOrder).
const sqlCountPickedSeen = `counted AS (
	INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
	SELECT $1, d.state, d.jobs, 0
	FROM (SELECT count(*) AS n FROM {s}.kiln_job WHERE ctid = ANY(ARRAY(SELECT ctid FROM picked))) AS c,
		LATERAL (VALUES ('running', c.n), ('available', -c.n)) AS d(state, jobs)
	WHERE c.n > 0
)`

// partitionRound returns sqlPartitionRound's text with now for its time
// ($10) and tail for its CTEs of the jobs without a key and its UPDATE.
func partitionRound(now, tail string) string {
	return `WITH RECURSIVE paused AS MATERIALIZED (
	SELECT FROM {s}.kiln_queue WHERE name = $1 AND paused
),
async AS MATERIALIZED (
	SELECT set_config('synchronous_commit', 'off', true)
),
keys(k, i, room, total, first, due) AS (
	SELECT $3::text COLLATE "C", 0, 0, 0, NULL::tid, false
	UNION ALL
	SELECT n.k, keys.i + 1, n.room, keys.total + n.room, n.first, n.due
	FROM keys CROSS JOIN LATERAL (
		SELECT nk.k, nk.first, nk.due, CASE
			WHEN nk.k IS NULL THEN 0
			WHEN $6::integer <= 0 THEN least($5::integer, $4::integer - keys.total)
			ELSE least($5::integer, $4::integer - keys.total, greatest($6::integer - (
				SELECT count(*)::integer FROM (
					SELECT FROM {s}.kiln_job
					WHERE state = 'running' AND kind COLLATE "C" = $2 AND partition_key = nk.k
					ORDER BY partition_key, id
					LIMIT $6::integer
				) AS r), 0))
			END AS room
		FROM (SELECT f.partition_key AS k, f.ctid AS first, f.scheduled_at <= ` + now + ` AS due
			FROM (SELECT) AS one LEFT JOIN LATERAL (
				SELECT partition_key, ctid, scheduled_at FROM {s}.kiln_job
				WHERE state = 'available' AND queue = $1 AND kind = $2 AND partition_key <> '' AND partition_key > keys.k
				ORDER BY partition_key, queue, priority, scheduled_at, id LIMIT 1
			) AS f ON true OFFSET 0) AS nk
		OFFSET 0
	) AS n
	WHERE keys.k IS NOT NULL AND keys.i < $7::integer AND keys.total < $4::integer
),
keyed AS MATERIALIZED (
	SELECT c.id, c.ctid FROM keys CROSS JOIN LATERAL (
		SELECT id, ctid FROM {s}.kiln_job
		WHERE ctid = keys.first AND state = 'available' AND queue = $1 AND kind = $2 AND scheduled_at <= ` + now + `
			AND NOT EXISTS (SELECT FROM paused)
		FOR UPDATE SKIP LOCKED
	) AS c
	WHERE keys.i > 0 AND keys.room = 1 AND keys.due AND $6::integer > 0
	UNION ALL
	SELECT c.id, c.ctid FROM keys CROSS JOIN LATERAL (
		SELECT id, ctid FROM {s}.kiln_job
		WHERE state = 'available' AND queue = $1 AND kind = $2 AND partition_key >= keys.k AND partition_key <= keys.k
			AND partition_key <> '' AND scheduled_at <= ` + now + ` AND NOT EXISTS (SELECT FROM paused)
		ORDER BY partition_key, queue, priority, scheduled_at, id
		LIMIT keys.room
		FOR UPDATE SKIP LOCKED
	) AS c
	WHERE keys.i > 0 AND keys.room > 0 AND NOT (keys.room = 1 AND keys.due AND $6::integer > 0)
),
` + tail + `,
visited AS MATERIALIZED (
	SELECT (SELECT k FROM keys WHERE i = v.n AND k IS NOT NULL) AS last, v.n,
		EXISTS (SELECT FROM keys WHERE k IS NULL) AS ended
	FROM (SELECT max(i) AS n FROM keys WHERE k IS NOT NULL) AS v
),
walked AS MATERIALIZED (
	SELECT last, n, ended OR (SELECT partition_key FROM {s}.kiln_job
		WHERE state = 'available' AND queue = $1 AND kind = $2 AND partition_key <> '' AND partition_key > last
		ORDER BY partition_key LIMIT 1) IS NULL AS ended
	FROM visited
)
SELECT ` + qualified("c", jobColumns) + `, w.last, w.n, w.ended, ` + deepColumns + `
FROM walked AS w CROSS JOIN deep AS d LEFT JOIN claimed AS c ON true`
}

// sqlRoundSettings plans the statements that follow it in its
// transaction generically (sqlGenericPlans), with explicit sorts and JIT
// compilation disabled (sqlSortsOff) and sequential scans too (a generic
// plan made while the table is small, and reused once it is large, could
// otherwise read the whole table where sqlPartitionRound reads rows by
// their addresses; no statement of a round needs one), and takes the
// advisory locks of the kinds of $1 (as sqlLockGeneric; none when $1 is empty), all until the
// transaction ends: the first statement of a round of a claim by
// partition key (partitionRounds.Round), in the same batch.
const sqlRoundSettings = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	set_config('enable_sort', 'off', true), set_config('jit', 'off', true), set_config('enable_seqscan', 'off', true),
	(SELECT count(pg_advisory_xact_lock(hashtextextended($2 || '/' || k, 0))) FROM unnest($1::text[]) AS t(k))`

// sqlSortsOff disables explicit sorts and JIT compilation in the
// planning of the statements that follow it, for the rest of the
// transaction, and sqlSortsOn restores each to its session default (see
// sortsDisabled). SET LOCAL ... TO DEFAULT is one statement per setting;
// a single statement reading the defaults from pg_settings built every
// setting's row, 0.7 ms each time under load against 0.05 ms.
var (
	sqlSortsOff = `SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true)`
	sqlSortsOn  = []string{`SET LOCAL enable_sort TO DEFAULT`, `SET LOCAL jit TO DEFAULT`}
)

// sortsDisabled runs sql with args in tx, with each called for every row,
// planned with explicit sorts and JIT compilation disabled for that
// statement only: one batch, one round trip, of sqlSortsOff, sql and
// sqlSortsOn.
//
// sqlPartitionKeys and sqlPartitionTake read kiln_job_partition_available
// in its order, which no other index gives; kiln_job_claim_kind gives the
// same jobs (and, filtered by key, the same order within a key) with a
// sort. On a table that was never analyzed (a new schema, or a server
// without autovacuum) the planner estimates one row for a queue and kind,
// sees a sort of one row as free and the smaller index as cheaper, and
// reads every available job of the kind to find one key's: a burn-down of
// 20,000 jobs over 1,000 keys ran at 60 jobs/s, 3.9 ms of database CPU per
// job. With sorts disabled the index that needs none is chosen whatever
// the statistics; the statements need no sort of their own.
//
// JIT goes with it: a disabled sort is still planned, at a cost of 10^10
// (the sort of the jobs without a key in sqlPartitionTake, planned even
// when none are wanted), far above jit_above_cost, so that PostgreSQL
// compiled every take (1.3 to 1.8 s each, in TestPartitionClaimPlans's
// setting): the same burn-down ran at 283 jobs/s, 856 us of database CPU
// per job, and at 1,610 to 1,789 with JIT off (plain: 2,700 to 3,427).
func (p *partitionSource) sortsDisabled(ctx context.Context, sql string, args []any, each func(pgx.Rows) error) error {
	on := make([]batchStatement, len(sqlSortsOn))
	for i, st := range sqlSortsOn {
		on[i] = batchStatement{sql: st}
	}
	return batchQuery(ctx, p.q, []batchStatement{{sql: sqlSortsOff}}, sql, args, each, on...)
}

// partitionSource is store.PartitionSource for one kind of a claim, in
// its transaction (q).
type partitionSource struct {
	s    *Store
	q    partitionQuerier
	c    *claim
	kind string
}

// partitionQuerier is what a partitionSource runs its statements on: a
// transaction, or for partitionRounds the Store's pool.
type partitionQuerier interface {
	claimQuerier
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (p *partitionSource) Keys(ctx context.Context, after string, n int) ([]string, error) {
	keys := make([]string, 0, n)
	err := p.sortsDisabled(ctx, p.s.sql(sqlPartitionKeys), []any{p.c.p.Queue, p.kind, after, n}, func(rows pgx.Rows) error {
		var k string
		err := rows.Scan(&k)
		keys = append(keys, k)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list partition keys: %w", err)
	}
	return keys, nil
}

func (p *partitionSource) KeyBudgets(ctx context.Context, after string, n, scan int, eligible time.Time) ([]store.KeyTAT, bool, error) {
	rows, err := p.q.Query(ctx, p.s.sql(sqlPartitionKeyBudgets), p.c.p.Queue, p.kind, after, n, scan, eligible)
	if err != nil {
		return nil, false, fmt.Errorf("list partition keys and budgets: %w", err)
	}
	var (
		keys []store.KeyTAT
		end  bool
		key  *string
		tat  *time.Time
		i    int
	)
	if _, err := pgx.ForEachRow(rows, []any{&key, &tat, &i}, func() error {
		if key == nil {
			end = true
			return nil
		}
		kt := store.KeyTAT{Key: *key}
		if tat != nil {
			kt.TAT = tat.UTC()
		}
		keys = append(keys, kt)
		return nil
	}); err != nil {
		return nil, false, fmt.Errorf("list partition keys and budgets: %w", err)
	}
	return keys, end, nil
}

func (p *partitionSource) Running(ctx context.Context) (map[string]int, error) {
	rows, err := p.q.Query(ctx, p.s.sql(sqlPartitionRunning), p.kind)
	if err != nil {
		return nil, fmt.Errorf("count running jobs per key: %w", err)
	}
	running := map[string]int{}
	var (
		key string
		n   int
	)
	if _, err := pgx.ForEachRow(rows, []any{&key, &n}, func() error {
		running[key] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count running jobs per key: %w", err)
	}
	return running, nil
}

func (p *partitionSource) Take(ctx context.Context, keys []string, takes []int, empty, window int) ([]*kilntype.JobRow, error) {
	if len(keys) == 0 && empty == 0 {
		return nil, nil
	}
	n := make([]int32, len(takes))
	for i, t := range takes {
		n[i] = int32(t)
	}
	var (
		jobs []*kilntype.JobRow
		deep deepRead
	)
	args := append([]any{p.c.p.Queue, p.kind, keys, n, p.c.now,
		empty, window, p.c.p.LeasedBy, p.c.leaseEnd, p.c.leaseLen}, deepArgs(&p.s.cursors, p.c.p.Queue, p.kind)...)
	// jobColumns, then deepColumns, read by one scanner (see Round).
	extra := deep.dest()
	sc := newClaimScanner()
	err := p.sortsDisabled(ctx, p.s.sql(sqlPartitionTake), args, func(rows pgx.Rows) error {
		if rows.RawValues()[0] == nil { // no job: the deep read's outcome alone
			return rowWithExtra{Row: rows, extra: extra}.Scan(make([]any, jobColumnCount)...)
		}
		j, err := sc.scan(rows, extra...)
		jobs = append(jobs, j)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim by partition key: %w", err)
	}
	deep.record(&p.s.cursors, p.c.p.Queue, p.kind, window)
	return jobs, nil
}

// partitionRounds is store.PartitionRounder for one kind of a claim
// without rate or cluster limits (claimRounds): each Round is one batch
// on the pool, sqlRoundSettings and sqlPartitionRound, one round trip and
// one transaction (the batch's implicit one, up to the Sync that pgx
// sends at its end), which holds the kind's advisory lock when keys are
// capped. It is store.PartitionInOrder too: InOrder, the same batch with
// sqlPartitionInOrder. store.ClaimPartitioned calls InOrder and Round
// alone for such a claim; the methods of partitionSource run each in a
// transaction of its own.
type partitionRounds struct {
	partitionSource
}

func (p *partitionRounds) Round(ctx context.Context, r store.PartitionRound) ([]*kilntype.JobRow, string, int, bool, error) {
	locks := []string{}
	if r.MaxRunning > 0 {
		locks = append(locks, p.kind)
	}
	var (
		jobs    []*kilntype.JobRow
		last    string
		visited int
		end     bool
		deep    deepRead
	)
	settings := []batchStatement{{sql: sqlRoundSettings, args: []any{locks, p.s.lockSpace}, label: "plan and lock"}}
	// A round that takes no job without a key (every round but the first
	// of a rotation) runs the statement without their CTEs, under a limit
	// of 1 its own (sqlPartitionRoundOne).
	sql := sqlPartitionRoundKeyed
	args := []any{p.c.p.Queue, p.kind, r.After, r.Need, r.Share, r.MaxRunning, r.Scan,
		p.c.now, p.c.p.LeasedBy, p.c.leaseEnd, p.c.leaseLen}
	if r.Empty == 0 && r.MaxRunning == 1 && r.Share >= 1 {
		sql = sqlPartitionRoundOne
		args = []any{p.c.p.Queue, p.kind, r.After, r.Need, r.Scan, p.c.now, p.c.p.LeasedBy, p.c.leaseEnd, p.c.leaseLen}
	}
	if r.Empty > 0 {
		sql = sqlPartitionRound
		args = append([]any{p.c.p.Queue, p.kind, r.After, r.Need, r.Share, r.MaxRunning, r.Scan, r.Empty, r.Window,
			p.c.now, p.c.p.LeasedBy, p.c.leaseEnd, p.c.leaseLen}, deepArgs(&p.s.cursors, p.c.p.Queue, p.kind)...)
	}
	// jobColumns, the last key visited, the number of keys visited and
	// whether they ran out, then deepColumns: read by one scanner, whose
	// repeated texts (kind, queue, state, lease holder) share their strings
	// from row to row, with no argument list per row (14.1 allocations per
	// job before, TestPartitionClaimAllocations).
	extra := append([]any{&last, &visited, &end}, deep.dest()...)
	sc := newClaimScanner()
	err := batchQuery(ctx, p.q, settings, p.s.sql(sql), args,
		func(rows pgx.Rows) error {
			if rows.RawValues()[0] == nil { // no job: the walk's outcome alone
				return rowWithExtra{Row: rows, extra: extra}.Scan(make([]any, jobColumnCount)...)
			}
			j, err := sc.scan(rows, extra...)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
			return nil
		})
	if err != nil {
		return nil, "", 0, false, fmt.Errorf("claim by partition key: %w", err)
	}
	deep.record(&p.s.cursors, p.c.p.Queue, p.kind, r.Window)
	return jobs, last, visited, end, nil
}

// InOrder is store.PartitionInOrder.InOrder: one batch on the pool,
// sqlRoundSettings (the kind's lock) and sqlPartitionInOrder, one round
// trip and one transaction, as a Round. It reads at most window running
// jobs of the kind, or none while the Store's runningReads says to seek
// each key's running jobs instead.
func (p *partitionRounds) InOrder(ctx context.Context, n, window, maxRunning int) ([]*kilntype.JobRow, error) {
	settings := []batchStatement{{sql: sqlRoundSettings, args: []any{[]string{p.kind}, p.s.lockSpace},
		label: "plan and lock"}}
	// "\x01in order\x00" + claimMarkKey(queue, []string{kind}), in one
	// concatenation.
	key := "\x01in order\x00" + p.c.p.Queue + "\x00" + p.kind
	from := frontStart(p.c.now)
	if !p.c.p.FromFront {
		from = p.s.claimMarks.start(key, p.c.now)
	}
	var (
		jobs    = make([]*kilntype.JobRow, 0, n)
		sc      = newClaimScanner()
		bound   = p.s.runningReads.bound(key, window)
		leading bool
		wide    bool
	)
	sql := sqlPartitionInOrder
	if maxRunning == 1 {
		sql = sqlPartitionInOrderOne
	}
	err := batchQuery(ctx, p.q, settings, p.s.sql(sql),
		[]any{p.c.p.Queue, p.kind, p.c.now, n, window, maxRunning, p.c.p.LeasedBy, p.c.leaseEnd, p.c.leaseLen,
			from.priority, from.scheduledAt, from.id, bound},
		func(rows pgx.Rows) error {
			j, err := sc.scan(rows, &leading, &wide)
			if err == nil {
				jobs = append(jobs, j)
			}
			return err
		})
	if err != nil {
		p.s.claimMarks.forget(key)
		return nil, fmt.Errorf("claim by partition key in claim order: %w", err)
	}
	p.s.runningReads.done(key, bound, wide)
	if !p.c.p.FromFront {
		// The mark goes past the jobs taken only if it passes over no job
		// left available (one whose key had no room): a later job of
		// that key would otherwise be claimed before it.
		got := jobs
		if !leading {
			got = nil
		}
		p.s.claimMarks.done(key, from, p.c.now, n, got)
	}
	return jobs, nil
}

// jobColumnCount is the number of columns of jobColumns.
var jobColumnCount = strings.Count(jobColumns, ",") + 1

// claimRounds is JobClaim for a claim with partitioned kinds and no
// cluster or rate limits: the partitioned kinds are claimed round by
// round (store.ClaimPartitioned with partitionRounds), each round one
// round trip and one transaction on the pool, and the other kinds as
// usual (one batch, or a transaction with local kind limits); which part
// goes first alternates as in claimPartitioned. Each part, and each
// round, commits on its own: when one fails after others claimed jobs,
// the claim returns those (it ended early, as a claim may) and no error;
// the next claim meets the failure again if it lasts.
func (s *Store) claimRounds(ctx context.Context, params *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	// claimed is the first part's jobs as it returned them, then the
	// second's appended: no slice of Max made for a claim whose one part
	// claims nothing (a queue of partitioned kinds alone).
	var claimed []*kilntype.JobRow
	others := func() error {
		if !params.ClaimsOthers() || params.Max-len(claimed) < 1 {
			return nil
		}
		rp := params.WithoutPartitioned(params.Max - len(claimed))
		if rp.ClaimsNothing() {
			return nil
		}
		c := s.newClaim(rp)
		var err error
		if c.limited {
			err = s.inTx(ctx, func(tx pgx.Tx) error { return c.run(ctx, s, tx) })
		} else {
			err = c.run(ctx, s, s.pool)
		}
		if err != nil {
			return err
		}
		claimed = appendJobs(claimed, c.claimed)
		return nil
	}
	partitioned := func() error {
		c := s.newPartitionClaim(params)
		jobs, cursors, err := s.cursors.ClaimPartitionedKinds(ctx, params, len(claimed), nil, func(kind string) store.PartitionTaker {
			return &partitionRounds{partitionSource{s: s, q: s.pool, c: c, kind: kind}}
		})
		claimed = appendJobs(claimed, jobs)
		for kind, cursor := range cursors {
			s.cursors.Set(params.Queue, kind, cursor)
		}
		return err
	}
	if err := s.cursors.InTurn(partitioned, others); err != nil && len(claimed) == 0 {
		return nil, fail("claim jobs", err)
	}
	if claimed == nil {
		claimed = []*kilntype.JobRow{}
	}
	slices.SortFunc(claimed, compareClaimOrder)
	return claimed, nil
}

// appendJobs returns jobs appended to claimed: jobs itself while claimed
// is empty, without a copy (the slice of one part of a claim, which
// nothing else holds).
func appendJobs(claimed, jobs []*kilntype.JobRow) []*kilntype.JobRow {
	if len(claimed) == 0 {
		return jobs
	}
	return append(claimed, jobs...)
}

// claimPartitioned is JobClaim for a claim with partitioned kinds: without
// cluster or rate limits, claimRounds; otherwise, in one transaction
// (claimSerialized), it locks the kinds whose claims are serialized and
// applies their cluster and rate limits, then claims the
// partitioned kinds by key (store.ClaimPartitioned) and the other kinds
// as usual, with what the first part left of Max; which part goes first
// alternates from claim to claim, so that neither starves the other.
func (s *Store) claimPartitioned(ctx context.Context, params *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	if params.Max < 1 {
		return []*kilntype.JobRow{}, nil
	}
	if len(params.ClusterKindLimits) == 0 && len(params.RateLimits) == 0 && len(params.KeyRateLimits) == 0 {
		return s.claimRounds(ctx, params)
	}
	var cursors map[string]string
	claimed, err := s.claimSerialized(ctx, params, func(tx *claimTx, p *store.JobClaimParams, rate *store.RateClaim) ([]*kilntype.JobRow, bool, error) {
		claimed := make([]*kilntype.JobRow, 0, params.Max)
		others := func() error {
			rp := p.WithoutPartitioned(p.Max - len(claimed))
			if rp.ClaimsNothing() {
				return nil
			}
			c := s.newClaim(rp)
			c.generic = true // sqlLockGeneric
			if err := c.run(ctx, s, tx); err != nil {
				return err
			}
			claimed = append(claimed, c.claimed...)
			return nil
		}
		partitioned := func() error {
			c := s.newPartitionClaim(p)
			jobs, next, err := s.cursors.ClaimPartitionedKinds(ctx, p, len(claimed), rate, func(kind string) store.PartitionTaker {
				return &partitionSource{s: s, q: tx, c: c, kind: kind}
			})
			claimed, cursors = append(claimed, jobs...), next
			return err
		}
		return claimed, false, s.cursors.InTurn(partitioned, others)
	})
	if err != nil {
		return nil, fail("claim jobs", err)
	}
	for kind, cursor := range cursors {
		s.cursors.Set(params.Queue, kind, cursor)
	}
	slices.SortFunc(claimed, compareClaimOrder)
	return claimed, nil
}

var (
	_ store.PartitionSource  = (*partitionSource)(nil)
	_ store.PartitionRounder = (*partitionRounds)(nil)
	_ store.PartitionInOrder = (*partitionRounds)(nil)
)
