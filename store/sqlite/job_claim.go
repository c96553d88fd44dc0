package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// untaggedPredicate is kiln_job_claim_untagged's predicate (migration
// 039): the available jobs without a tag, not in the fair order, written
// as the index's so that SQLite may use it in every statement that names
// the index. With fairPredicate, kiln_job_claim_fair's (migration 035), it
// splits the available jobs in two, each in exactly one of the two
// indexes, since no job without a key has a tag (migration 039 clears
// any, and its trigger the tag of a job whose key an UPDATE empties).
const untaggedPredicate = `state = 'available' AND fair_seq IS NULL`

// fairPredicate is kiln_job_claim_fair's predicate (migration 035): the
// available jobs with a key and a tag, in fair order.
const fairPredicate = `state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL`

// sqlClaimUntagged and sqlClaimFair name the two indexes of the available
// jobs' claim order (see untaggedPredicate), as a FROM clause of kiln_job.
const (
	sqlClaimUntagged = `kiln_job INDEXED BY kiln_job_claim_untagged`
	sqlClaimFair     = `kiln_job INDEXED BY kiln_job_claim_fair`
)

// sqlClaimCandidates returns (claimColumns of) up to limit due jobs of queue
// ?1 at time ?2, in claim order: available jobs of the kinds ?5 ... ?(4+k)
// (a NULL kind matches nothing), and scheduled or retryable jobs whose kind
// is in the JSON array ?3 (NULL: any) and not in the JSON array ?4 (NULL:
// none). A paused queue has no due jobs.
//
// unpaused holds the queue, or no row when kiln_queue says it is paused: one
// primary-key lookup per claim, materialized once. The available jobs and
// the walk of priorities seek their index with its queue as the key, so a
// paused queue's key is NULL and no index entry is read at all. (A
// NOT EXISTS term next to queue = ?1 would be evaluated once too, but
// SQLite would still walk every index entry of the queue to reject it.)
//
// Available jobs are read from kiln_job_claim_untagged (queue, kind,
// priority, scheduled_at, id) and kiln_job_claim_fair, two ranges per kind
// (see claimAvailable): jobs of other kinds are never read, however many
// wait in the queue. Scheduled and
// retryable jobs are read from kiln_job_claim_waiting one priority at a
// time (prio walks the priorities present with one index seek each, in
// order), seeking the range scheduled_at <= now: jobs due in the future are
// never read, however many there are. (Due ones of kinds not claimed are
// read and filtered out: the promoter makes them available within a
// second.)
//
// The statement is one compound SELECT of every range, an arm per kind and
// the waiting jobs' arm, under one ORDER BY and LIMIT: SQLite runs it as a
// merge of co-routines, each of which walks its index in claim order, so
// no row is sorted or copied into a temporary b-tree but the fair arms'
// index tuples (see claimAvailable). (Before, the available and the
// waiting jobs were each a CTE with its own ORDER BY
// and LIMIT, and the merge of the two sorted each CTE's rows again, which
// SQLite cannot tell are in order: 49 of the 81 VM steps per claimed job,
// docs/benchmarks.md, "SQLite writer per job, 2026-12-06 eighth session
// (litefast)".)
func sqlClaimCandidates(limit, kinds int) string {
	return fmt.Sprintf(sqlClaimCandidatesFormat, limit, claimAvailable(kinds, limit))
}

// claimAvailable returns sqlClaimCandidates's arms of available jobs for k
// kinds, bound as ?5 ... ?(4+k), joined by UNION ALL, two per kind. The
// first walks its kind's range of kiln_job_claim_untagged (the jobs
// without a key, and keyed jobs without a tag) in index order, and the
// statement's merge takes the next row in claim order from whichever arm
// has it, stopping at the LIMIT. So a claim reads about limit entries plus
// two per kind, whatever the lengths of the ranges. The second reads the
// first limit due jobs of the kind's range of kiln_job_claim_fair (the
// tagged jobs with a key, migration 035) in fair order, which the merge
// sorts into claim order: a claim that does not claim the kind by key
// takes its keyed jobs from the front of the fair order (one seek that
// finds none when the kind has no keyed job). The second reads its index
// alone (fairCandidateColumns: no row), so the sort is of tuples of a
// few dozen bytes and the rows of the keyed jobs that the claim picks are
// read afterwards by ID (sqlClaimRows): a claim of any kind over 50 kinds
// of 300 keyed jobs with 1 KB of args read and sorted 6,400 whole rows
// (2,920 pages fetched) when it read claimColumns (docs/benchmarks.md,
// "SQLite plain claims read the fair index alone (litewin, 2026-12-07
// fifteenth session)"). The first reads its rows as the merge takes them,
// one ahead: a claim of jobs without a key reads each row once. With no
// kind it is one arm that returns no row.
func claimAvailable(k, limit int) string {
	if k == 0 {
		cols := strings.Split(claimColumnNames+", keyed", ",")
		for i, col := range cols {
			cols[i] = "NULL AS " + strings.TrimSpace(col)
		}
		return `SELECT ` + strings.Join(cols, ", ") + ` WHERE 0`
	}
	arms := make([]string, 0, 2*k)
	for i := range k {
		arms = append(arms, fmt.Sprintf(`SELECT `+claimColumns+`, 0 AS keyed FROM `+sqlClaimUntagged+`
WHERE `+untaggedPredicate+` AND queue = (SELECT queue FROM unpaused) AND kind = ?%d AND scheduled_at <= ?2`, 5+i),
			fmt.Sprintf(`SELECT * FROM (SELECT `+fairCandidateColumns+` FROM `+sqlClaimFair+`
WHERE `+fairPredicate+` AND queue = (SELECT queue FROM unpaused) AND kind = ?%d AND scheduled_at <= ?2
ORDER BY priority, fair_seq, id LIMIT %d)`, 5+i, limit))
	}
	return strings.Join(arms, "\nUNION ALL\n")
}

const sqlClaimCandidatesFormat = `WITH RECURSIVE unpaused(queue) AS MATERIALIZED (
	SELECT ?1 WHERE NOT EXISTS (SELECT 1 FROM kiln_queue WHERE name = ?1 AND paused = 1)
),
prio(p) AS (
	SELECT (SELECT min(priority) FROM kiln_job INDEXED BY kiln_job_claim_waiting
		WHERE state IN ('scheduled', 'retryable') AND queue = (SELECT queue FROM unpaused))
	UNION ALL
	SELECT (SELECT min(priority) FROM kiln_job INDEXED BY kiln_job_claim_waiting
		WHERE state IN ('scheduled', 'retryable') AND queue = ?1 AND priority > prio.p)
	FROM prio WHERE prio.p IS NOT NULL
)
%[2]s
UNION ALL
SELECT ` + claimColumns + `, 0 AS keyed FROM kiln_job INDEXED BY kiln_job_claim_waiting
WHERE state IN ('scheduled', 'retryable') AND queue = ?1
	AND priority IN (SELECT p FROM prio WHERE p IS NOT NULL) AND scheduled_at <= ?2
	AND (?3 IS NULL OR kind IN (SELECT value FROM json_each(?3)))
	AND (?4 IS NULL OR kind NOT IN (SELECT value FROM json_each(?4)))
ORDER BY priority, scheduled_at, id
LIMIT %[1]d`

// sqlAvailableKinds returns the kinds of queue ?1's available jobs, in
// order, by two loose index scans, of kiln_job_claim_untagged and of
// kiln_job_claim_fair: one seek per kind of each for the first entry after
// the previous kind, and one more that finds none. Claims with AnyKind run
// it first.
const sqlAvailableKinds = `WITH RECURSIVE untagged(kind) AS (
	SELECT (SELECT kind FROM ` + sqlClaimUntagged + `
		WHERE ` + untaggedPredicate + ` AND queue = ?1 ORDER BY kind LIMIT 1)
	UNION ALL
	SELECT (SELECT kind FROM ` + sqlClaimUntagged + `
		WHERE ` + untaggedPredicate + ` AND queue = ?1 AND kind > untagged.kind ORDER BY kind LIMIT 1)
	FROM untagged WHERE untagged.kind IS NOT NULL
),
fair(kind) AS (
	SELECT (SELECT kind FROM ` + sqlClaimFair + `
		WHERE ` + fairPredicate + ` AND queue = ?1 ORDER BY kind LIMIT 1)
	UNION ALL
	SELECT (SELECT kind FROM ` + sqlClaimFair + `
		WHERE ` + fairPredicate + ` AND queue = ?1 AND kind > fair.kind ORDER BY kind LIMIT 1)
	FROM fair WHERE fair.kind IS NOT NULL
)
SELECT kind FROM untagged WHERE kind IS NOT NULL
UNION
SELECT kind FROM fair WHERE kind IS NOT NULL
ORDER BY kind`

// sqlClaimUpdate moves the jobs whose IDs are in the JSON array ?4 and that
// are not running yet to running. It returns nothing: the claim already read
// the jobs, and SQLite's RETURNING costs more than that read. The UPDATE
// trigger counts the moves.
const sqlClaimUpdate = `UPDATE kiln_job SET state = 'running', attempt = attempt + 1,
	attempted_at = ?1, leased_by = ?2, lease_expires_at = ?3, cancel_requested_at = NULL
WHERE id IN (SELECT value FROM json_each(?4)) AND state <> 'running'`

// sqlClaimUpdateAvailable is sqlClaimUpdate for the available jobs among
// those of ?4 only, which it marks as counted by the statement (it flips
// counted, migration 026): the claim adds them to kiln_job_count itself
// (moves), once per claim instead of the trigger's two UPSERTs per job.
// The plain claim and the take of a claim by partition key run it.
const sqlClaimUpdateAvailable = `UPDATE kiln_job SET state = 'running', attempt = attempt + 1,
	attempted_at = ?1, leased_by = ?2, lease_expires_at = ?3, cancel_requested_at = NULL,
	counted = 1 - counted
WHERE id IN (SELECT value FROM json_each(?4)) AND state = 'available'`

// fairCandidateColumns are claimColumns and keyed as the fair arms of
// sqlClaimCandidates return them: the columns of kiln_job_claim_fair that
// picking needs (a covering read: id, kind, priority, scheduled_at), a
// constant in place of every other column (partition_key too: a plain
// claim's picking does not look at it, and the driver would copy it for
// every candidate read), and keyed = 1, which tells the claim to read the
// row of the job by ID if it picks it (sqlClaimRows). The other arms
// return their rows and keyed = 0.
const fairCandidateColumns = `id, kind, NULL AS queue, NULL AS args, priority, 0 AS attempt, 0 AS max_attempts,
	0 AS created_at, scheduled_at, NULL AS tags, NULL AS metadata, NULL AS unique_key, NULL AS last_error,
	'' AS partition_key, 1 AS keyed`

// sqlClaimRows returns (claimColumns of) the jobs whose IDs are in the
// JSON array ?1, in no particular order: the rows of the keyed jobs that
// a claim's round picked among the fair arms' candidates of
// sqlClaimCandidates, read before the claim moves them. One rowid seek
// per job.
const sqlClaimRows = `SELECT ` + claimColumns + ` FROM kiln_job WHERE id IN (SELECT value FROM json_each(?1))`

// claimColumns are the columns sqlClaimCandidates (then keyed) and
// sqlClaimRows return, in scanCandidate's order: those of kiln_job that a
// claim does not set, named as in claimColumnNames. Three are not read as
// stored, since each text value read costs two allocations (the driver's copy and its box): queue is
// NULL (every candidate is of the claim's queue, which JobClaim sets),
// and tags and metadata are NULL when they hold the empty JSON array and
// object that most jobs have (scanCandidate restores them).
const claimColumns = claimColumnsButKey + `partition_key`

// claimColumnsButKey are claimColumns but the last, partition_key: a
// statement that knows each job's key already selects an empty text in
// its place (sqlPartitionTakeIDs), which costs the driver no copy of the
// key.
const claimColumnsButKey = `id, kind, NULL AS queue, args, priority, attempt, max_attempts, created_at,
	scheduled_at, nullif(tags, '[]') AS tags, nullif(metadata, '{}') AS metadata, unique_key,
	last_error, `

// claimColumnNames are the names of claimColumns.
const claimColumnNames = `id, kind, queue, args, priority, attempt, max_attempts, created_at,
	scheduled_at, tags, metadata, unique_key, last_error, partition_key`

// scanCandidate reads one row of claimColumns as the job is before the
// claim, but for its Queue, which is left empty, into a new row. FinalizedAt
// is nil: no job that can be claimed is finalized. c holds the columns
// scanned on the way to the row (the caller's, one for all the rows of a
// query: its row is not used): the row alone is allocated, 384 bytes, not
// a candidate of 576 each.
func scanCandidate(rows *sql.Rows, c *candidate) (*kilntype.JobRow, error) {
	j := new(kilntype.JobRow)
	if err := scanCandidateInto(rows, c, j); err != nil {
		return nil, err
	}
	return j, nil
}

// scanCandidateInto reads one row of claimColumns into j, as
// scanCandidate does into a new row.
func scanCandidateInto(rows *sql.Rows, c *candidate, j *kilntype.JobRow) error {
	if err := rows.Scan(c.dests(j)...); err != nil {
		return err
	}
	return c.fill(j)
}

// dests returns the destinations of a row of claimColumns, in their order,
// for j (the job's own columns) and c (those fill converts), with room for
// two more that a caller may append (partitionSource.FairOrder's tag and
// running count), or three (FairOrderBudget's tag, running count and
// budget), or one (candidates.query's keyed): c's buffer, reused row
// after row. It clears the slices that a scan would otherwise reuse.
func (c *candidate) dests(j *kilntype.JobRow) []any {
	c.args, c.metadata = nil, nil
	if c.dest == nil {
		c.dest = make([]any, 0, 17)
	}
	c.dest = append(c.dest[:0], &j.ID, &j.Kind, &c.queue, &c.args, &j.Priority, &j.Attempt,
		&j.MaxAttempts, &c.createdAt, &c.scheduledAt, &c.tags, &c.metadata, &c.uniqueKey,
		&c.lastError, &j.Partition)
	return c.dest
}

// fill sets on j (the row that c was scanned for) the
// columns that c holds as scanned: args, metadata ("{}" for none), the
// times, the unique key, the last error and the tags. j.ID names the job
// in the error of tags that do not decode.
func (c *candidate) fill(j *kilntype.JobRow) error {
	if c.metadata == nil {
		c.metadata = []byte("{}")
	}
	j.Args, j.ArgsBytes, j.Metadata = c.args, len(c.args), c.metadata
	j.CreatedAt, j.ScheduledAt = fromMicros(c.createdAt), fromMicros(c.scheduledAt)
	j.UniqueKey, j.LastError = c.uniqueKey.String, c.lastError.String
	var err error
	if j.Tags, err = decodeTags(c.tags.String); err != nil {
		return fmt.Errorf("job %d: %w", j.ID, err)
	}
	return nil
}

// candidate holds the columns of a job that scanCandidate and the fair
// walks read on the way to its row.
type candidate struct {
	createdAt, scheduledAt int64
	args, metadata         []byte
	queue, tags            sql.NullString
	uniqueKey, lastError   sql.NullString
	dest                   []any // dests's buffer
}

// claimTimes are the AttemptedAt and LeaseExpiresAt that sqlClaimUpdate
// sets on every job of a claim: the jobs of one claim point to the same
// two values (which nothing changes), one allocation per claim, not two
// per job.
type claimTimes struct{ attemptedAt, leaseExpiresAt time.Time }

// markClaimed sets on j what sqlClaimUpdate set in the store, at t.
func markClaimed(j *kilntype.JobRow, p *store.JobClaimParams, t *claimTimes) {
	j.State = kilntype.JobStateRunning
	j.Attempt++
	j.AttemptedAt, j.LeaseExpiresAt = &t.attemptedAt, &t.leaseExpiresAt
	j.LeasedBy = p.LeasedBy
	j.CancelRequestedAt = nil
}

// claimLimit returns the candidate window for a claim that wants n rows: n
// rounded up to a power of two, at most maxClaimWindow. Each window size is
// its own prepared statement.
func claimLimit(n int) int {
	limit := 1
	for limit < n && limit < maxClaimWindow {
		limit *= 2
	}
	return limit
}

// maxClaimWindow bounds the candidates one round of a claim reads.
const maxClaimWindow = 1 << 14

// claimWindowFactor sizes the candidate window when kind limits may skip
// candidates: Max times this many are read per round.
const claimWindowFactor = 4

// maxMergedKinds bounds the kinds whose available jobs one candidates
// statement merges (SQLite allows 500 arms in a compound SELECT): a claim
// of more kinds runs one statement per chunk of them and merges their
// candidates in Go.
const maxMergedKinds = 100

// JobClaim moves up to params.Max due jobs of params.Queue to running, leased
// by params.LeasedBy until params.LeaseExpiresAt, and returns them in claim
// order (priority, then ScheduledAt, then ID) with Attempt already counted.
// Kinds and KindLimits restrict which jobs are taken (no Kinds means none,
// unless AnyKind is set). The claim is one IMMEDIATE
// transaction, so concurrent claims, from this process or another, never
// return the same job. A Max below 1 claims nothing, and so does a claim of
// a queue paused with QueuePause (by any process sharing the file).
//
// The claim reads the available jobs of each kind it may take from that
// kind's ranges of kiln_job_claim_untagged and kiln_job_claim_fair (the
// keyed jobs, from the front of their fair order, as index entries: the
// rows of those it takes are read by ID), merged in claim order, so its cost
// does not grow with the jobs of other kinds queued (see
// sqlClaimCandidates). With AnyKind it first lists, on a reader, the kinds
// of the queue's available jobs (one index seek per kind:
// sqlAvailableKinds).
func (s *Store) JobClaim(ctx context.Context, params *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	whole := params // with the partitioned kinds
	if params.ClaimsByKey() {
		if params.Max < 1 {
			return []*kilntype.JobRow{}, nil
		}
		params = params.WithoutPartitioned(params.Max)
	} else if params.ClaimsNothing() {
		return []*kilntype.JobRow{}, nil
	}
	kinds, err := jsonStrings(params.KindFilter())
	if err != nil {
		return nil, fail("claim jobs", err)
	}
	avail := params.KindFilter()
	if avail == nil {
		if avail, err = s.availableKinds(ctx, params.Queue); err != nil {
			return nil, fail("claim jobs", err)
		}
	}
	// Limits may skip candidates of a limited kind, so a claim that can
	// take jobs of other kinds reads a wider window; a claim of one kind
	// only would skip the same kind's jobs however many it read.
	window := params.Max
	if len(params.KindFilter()) != 1 {
		limited := len(params.ClusterKindLimits) > 0 || len(params.RateLimits) > 0
		for _, limit := range params.KindLimits {
			limited = limited || limit > 0
		}
		if limited {
			window *= claimWindowFactor
		}
	}
	limit := claimLimit(window)
	c := &candidates{limit: limit, kinds: kinds, queue: params.Queue, now: micros(params.Now)}
	for _, kind := range avail {
		if l, ok := params.KindLimits[kind]; (!ok || l > 0) && !slices.Contains(c.avail, kind) {
			c.avail = append(c.avail, kind)
		}
	}
	st, err := s.stmts(ctx)
	if err != nil {
		return nil, fail("claim jobs", err)
	}
	for chunk := range c.chunks() {
		stmt, err := st.claimCandidates.prepared(ctx, s.w, claimShape{limit: limit, kinds: len(chunk)})
		if err != nil {
			return nil, fail("claim jobs", err)
		}
		c.stmts = append(c.stmts, stmt)
	}
	if whole.ClaimsByKey() {
		if err := st.partition.prepare(ctx, s.w); err != nil {
			return nil, fail("claim jobs", err)
		}
	}
	rateLimited := len(whole.RateLimits) > 0 || len(whole.KeyRateLimits) > 0
	if rateLimited {
		if err := st.rate.prepare(ctx, s.w); err != nil {
			return nil, fail("claim jobs", err)
		}
	}
	var (
		claimed []*kilntype.JobRow
		cursors map[string]string
	)
	err = s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		p, wp := params, whole
		var rate *store.RateClaim
		if rateLimited {
			// As for cluster limits, the write transaction serializes the
			// claims: no other can change a budget before this one commits.
			if rate, err = rateClaim(ctx, tx, st.rate, whole); err != nil {
				return err
			}
			p, wp = rate.Apply(p), rate.Apply(wp)
		}
		if len(params.ClusterKindLimits) > 0 {
			// The write transaction is the database's only writer, so the
			// count cannot change before the claim commits.
			running, err := countRunning(ctx, tx, params.ClusterLimitedKinds())
			if err != nil {
				return err
			}
			merged := *p
			merged.KindLimits = store.MergeKindLimits(p, running)
			p = &merged
			mergedWhole := *wp
			mergedWhole.KindLimits = store.MergeKindLimits(wp, running)
			wp = &mergedWhole
		}
		for i, stmt := range c.stmts {
			c.stmts[i] = tx.StmtContext(ctx, stmt)
		}
		if !whole.ClaimsByKey() {
			claimed, err = claim(ctx, tx, st, c, p)
		} else {
			claimed, cursors, err = s.claimBoth(ctx, tx, st, c, p, wp, rate)
		}
		if err != nil || rate == nil {
			return err
		}
		return rateTaken(ctx, tx, st.rate, rate, whole, claimed)
	})
	if err != nil {
		return nil, fail("claim jobs", err)
	}
	for kind, cursor := range cursors {
		s.cursors.Set(params.Queue, kind, cursor)
	}
	for _, j := range claimed {
		j.Queue = params.Queue // not read: see claimColumns
	}
	return claimed, nil
}

// claimBoth claims, in tx, the partitioned kinds of whole by partition key
// (store.ClaimPartitioned, within the per-key budgets of rate) and the other kinds as claim does (p, with Max
// lowered to what the first part left); which part goes first alternates
// from claim to claim, so that neither starves the other. It returns the
// claimed jobs in claim order and the partitioned kinds' new cursors.
func (s *Store) claimBoth(ctx context.Context, tx *sql.Tx, st *stmts, c *candidates, p, whole *store.JobClaimParams,
	rate *store.RateClaim) ([]*kilntype.JobRow, map[string]string, error) {
	claimed := make([]*kilntype.JobRow, 0, whole.Max)
	var cursors map[string]string
	others := func() error {
		rest := *p
		rest.Max = whole.Max - len(claimed)
		if rest.ClaimsNothing() {
			return nil
		}
		jobs, err := claim(ctx, tx, st, c, &rest)
		claimed = append(claimed, jobs...)
		return err
	}
	partitioned := func() error {
		ptx := st.partition.bind(ctx, tx, st)
		jobs, next, err := s.cursors.ClaimPartitionedKinds(ctx, whole, len(claimed), rate, func(kind string) store.PartitionTaker {
			return &partitionSource{tx: ptx, p: whole, kind: kind, cursors: &s.cursors}
		})
		claimed, cursors = append(claimed, jobs...), next
		if err != nil {
			return err
		}
		return ptx.writeCounted()
	}
	if err := s.cursors.InTurn(partitioned, others); err != nil {
		return nil, nil, err
	}
	slices.SortFunc(claimed, compareClaimOrder)
	return claimed, cursors, nil
}

// availableKinds returns the kinds of queue's available jobs, read on a
// reader (sqlAvailableKinds).
func (s *Store) availableKinds(ctx context.Context, queue string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, sqlAvailableKinds, queue)
	if err != nil {
		return nil, fmt.Errorf("list available kinds: %w", err)
	}
	defer rows.Close()
	kinds := []string{}
	for rows.Next() {
		var kind string
		if err := rows.Scan(&kind); err != nil {
			return nil, fmt.Errorf("list available kinds: %w", err)
		}
		kinds = append(kinds, kind)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list available kinds: %w", err)
	}
	return kinds, nil
}

// candidates reads the candidates of a claim's rounds: its statements, one
// per chunk of avail (see maxMergedKinds), each bound to the claim's
// transaction.
type candidates struct {
	limit int      // the statements' LIMIT
	kinds any      // the JSON array of the claim's kinds (nil: any kind)
	avail []string // the kinds whose available jobs are read
	stmts []*sql.Stmt
	queue string // the claim's queue
	now   int64  // the claim's time, in Unix microseconds
}

// chunks yields avail by chunks of at most maxMergedKinds kinds; an empty
// avail is one empty chunk (the claim still reads scheduled and retryable
// jobs).
func (c *candidates) chunks() iter.Seq[[]string] {
	return func(yield func([]string) bool) {
		if len(c.avail) == 0 {
			yield(nil)
			return
		}
		for chunk := range slices.Chunk(c.avail, maxMergedKinds) {
			if !yield(chunk) {
				return
			}
		}
	}
}

// read calls pick with the round's candidates in claim order, at most
// limit of them, until pick returns false, and returns how many it read.
// excluded (a JSON array, or nil) lists the kinds to leave out; their
// arms are bound to NULL, which matches no kind. With one statement the
// rows are read as SQLite returns them, in order; with several (a chunk
// of kinds each, the first one also reading scheduled and retryable
// jobs), each statement's first limit rows are merged in claim order.
func (c *candidates) read(ctx context.Context, excluded []string, pick func(*kilntype.JobRow, bool) bool) (int, error) {
	excludedJSON, err := jsonStrings(excluded)
	if err != nil {
		return 0, err
	}
	var merged []keyedCandidate
	i := 0
	for chunk := range c.chunks() {
		waitKinds := c.kinds
		if i > 0 {
			waitKinds = "[]" // read by the first chunk
		}
		args := []any{c.queue, c.now, waitKinds, excludedJSON}
		for _, kind := range chunk {
			if slices.Contains(excluded, kind) {
				args = append(args, nil)
			} else {
				args = append(args, kind)
			}
		}
		read, err := c.query(ctx, c.stmts[i], args, func(j *kilntype.JobRow, keyed bool) bool {
			if len(c.stmts) == 1 {
				return pick(j, keyed)
			}
			merged = append(merged, keyedCandidate{j, keyed})
			return true
		})
		if len(c.stmts) == 1 || err != nil {
			return read, err
		}
		i++
	}
	slices.SortFunc(merged, func(a, b keyedCandidate) int { return compareClaimOrder(a.job, b.job) })
	read := 0
	for _, j := range merged[:min(len(merged), c.limit)] {
		read++
		if !pick(j.job, j.keyed) {
			break
		}
	}
	return read, nil
}

// keyedCandidate is a candidate of candidates.read's merge of several
// statements: its row (only the columns of kiln_job_claim_fair when
// keyed) and whether it came from a fair arm.
type keyedCandidate struct {
	job   *kilntype.JobRow
	keyed bool
}

// query runs stmt with args and calls fn with each row and whether it
// is a fair arm's (keyed: the row holds the columns of
// kiln_job_claim_fair only) until it returns false; it returns the rows
// read.
func (c *candidates) query(ctx context.Context, stmt *sql.Stmt, args []any, fn func(*kilntype.JobRow, bool) bool) (int, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return 0, fmt.Errorf("select candidates: %w", err)
	}
	defer rows.Close()
	read := 0
	var (
		scanned candidate
		keyed   bool
	)
	for rows.Next() {
		read++
		j := new(kilntype.JobRow)
		if err := rows.Scan(append(scanned.dests(j), &keyed)...); err != nil {
			return read, fmt.Errorf("select candidates: %w", err)
		}
		if err := scanned.fill(j); err != nil {
			return read, fmt.Errorf("select candidates: %w", err)
		}
		if !fn(j, keyed) {
			break
		}
	}
	if err := rows.Close(); err != nil {
		return read, fmt.Errorf("select candidates: %w", err)
	}
	if err := rows.Err(); err != nil {
		return read, fmt.Errorf("select candidates: %w", err)
	}
	return read, nil
}

// claim runs JobClaim's rounds in tx. Each round reads a window of
// candidates in claim order, picks them while applying the kind limits, and
// moves the picked ones to running. A round that ends short of Max only
// because of kind limits is followed by another that excludes the kinds
// whose limit is reached; each round thus either fills Max, runs out of
// candidates, or excludes one more kind.
func claim(ctx context.Context, tx *sql.Tx, st *stmts, c *candidates, p *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	var (
		excluded []string       // kinds whose limit is 0 or reached
		taken    map[string]int // jobs picked per limited kind
		limited  bool           // whether some kind may still be skipped
	)
	for kind, limit := range p.KindLimits {
		if limit <= 0 {
			excluded = append(excluded, kind)
		} else {
			limited = true
		}
	}
	if limited {
		taken = make(map[string]int, len(p.KindLimits))
	}
	update := tx.StmtContext(ctx, st.claimUpdateAvailable)
	var (
		rows          *sql.Stmt // sqlClaimRows, bound when a round picks keyed jobs
		updateWaiting *sql.Stmt // sqlClaimUpdate, bound when a claim takes due waiting jobs
	)
	counted := make(moves, 2)
	now, leaseExpires := micros(p.Now), micros(p.LeaseExpiresAt)
	times := &claimTimes{truncate(p.Now), truncate(p.LeaseExpiresAt)}

	claimed := make([]*kilntype.JobRow, 0, p.Max)
	for len(claimed) < p.Max {
		want := p.Max - len(claimed)
		var (
			picked []*kilntype.JobRow
			keyed  []int // the positions in picked of the fair arms' jobs
		)
		read, err := c.read(ctx, excluded, func(j *kilntype.JobRow, fair bool) bool {
			if limit, ok := p.KindLimits[j.Kind]; ok {
				if taken[j.Kind] >= limit {
					return true
				}
				taken[j.Kind]++
				if taken[j.Kind] == limit {
					excluded = append(excluded, j.Kind)
				}
			}
			if fair {
				keyed = append(keyed, len(picked))
			}
			picked = append(picked, j)
			return len(picked) < want
		})
		if err != nil {
			return nil, err
		}
		if len(keyed) > 0 {
			if rows == nil {
				rows = tx.StmtContext(ctx, st.claimRows)
			}
			if err := readKeyedRows(ctx, rows, picked, keyed); err != nil {
				return nil, err
			}
		}
		if len(picked) > 0 {
			ids := make([]int64, len(picked))
			for i, j := range picked {
				ids[i] = j.ID
				markClaimed(j, p, times)
			}
			idsJSON := jsonIDs(ids)
			available, err := execCount(update.ExecContext(ctx, now, p.LeasedBy, leaseExpires, idsJSON))
			if err != nil {
				return nil, fmt.Errorf("mark running: %w", err)
			}
			counted.move(p.Queue, "available", "running", available, false)
			waiting := 0
			if available < len(ids) { // scheduled or retryable jobs that are due
				if updateWaiting == nil {
					updateWaiting = tx.StmtContext(ctx, st.claimUpdate)
				}
				if waiting, err = execCount(updateWaiting.ExecContext(ctx, now, p.LeasedBy, leaseExpires, idsJSON)); err != nil {
					return nil, fmt.Errorf("mark running: %w", err)
				}
			}
			if available+waiting != len(ids) {
				return nil, fmt.Errorf("mark running: %d of %d jobs updated", available+waiting, len(ids))
			}
			claimed = append(claimed, picked...)
		}
		if len(picked) < want && read < c.limit {
			break // no more candidates
		}
	}
	if err := counted.write(ctx, tx.StmtContext(ctx, st.countMoves)); err != nil {
		return nil, err
	}
	slices.SortFunc(claimed, compareClaimOrder)
	return claimed, nil
}

// readKeyedRows replaces the jobs of picked at the positions keyed, which
// hold the columns of kiln_job_claim_fair only (fairCandidateColumns), by
// their rows as they are before the claim, read by ID (sqlClaimRows run
// by stmt).
func readKeyedRows(ctx context.Context, stmt *sql.Stmt, picked []*kilntype.JobRow, keyed []int) error {
	ids := make([]int64, len(keyed))
	at := make(map[int64]int, len(keyed))
	for i, pos := range keyed {
		ids[i] = picked[pos].ID
		at[ids[i]] = pos
	}
	rows, err := stmt.QueryContext(ctx, jsonIDs(ids))
	if err != nil {
		return fmt.Errorf("read claimed jobs: %w", err)
	}
	defer rows.Close()
	var (
		scanned candidate
		row     kilntype.JobRow
	)
	read := 0
	for rows.Next() {
		// Scanned into row, then copied over the candidate's JobRow: no
		// second JobRow per job.
		row = kilntype.JobRow{}
		if err := scanCandidateInto(rows, &scanned, &row); err != nil {
			return fmt.Errorf("read claimed jobs: %w", err)
		}
		pos, ok := at[row.ID]
		if !ok {
			return fmt.Errorf("read claimed jobs: job %d not asked for", row.ID)
		}
		*picked[pos] = row
		read++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read claimed jobs: %w", err)
	}
	if read != len(keyed) {
		return fmt.Errorf("read claimed jobs: %d of %d jobs read", read, len(keyed))
	}
	return nil
}

// compareClaimOrder orders jobs by priority, then ScheduledAt, then ID.
func compareClaimOrder(a, b *kilntype.JobRow) int {
	return cmp.Or(
		cmp.Compare(a.Priority, b.Priority),
		a.ScheduledAt.Compare(b.ScheduledAt),
		cmp.Compare(a.ID, b.ID),
	)
}

// sqlCountRunning counts the running jobs of each kind of the JSON array ?1.
const sqlCountRunning = `SELECT kind, count(*) FROM kiln_job INDEXED BY kiln_job_state_inflight
WHERE state = 'running' AND ` + sqlInflightPredicate + ` AND kind IN (SELECT value FROM json_each(?1)) GROUP BY kind`

// countRunning returns how many jobs of each of kinds are running, in any
// process (kinds with none are absent). It walks the running jobs through
// kiln_job_state_inflight: as many rows as jobs run at once.
func countRunning(ctx context.Context, tx *sql.Tx, kinds []string) (map[string]int, error) {
	kindsJSON, err := jsonStrings(kinds)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, sqlCountRunning, kindsJSON)
	if err != nil {
		return nil, fmt.Errorf("count running jobs: %w", err)
	}
	defer rows.Close()
	running := make(map[string]int, len(kinds))
	for rows.Next() {
		var (
			kind string
			n    int
		)
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, fmt.Errorf("count running jobs: %w", err)
		}
		running[kind] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count running jobs: %w", err)
	}
	return running, nil
}

// claimShape identifies a prepared candidates statement: its LIMIT and the
// kinds whose available jobs it merges.
type claimShape struct {
	limit, kinds int
}

// claimStmts are the candidates statements, prepared by shape when first
// needed: a LIMIT bound as a parameter makes SQLite re-prepare the
// statement whenever its value changes, which cost claims a third of their
// time, and the kinds are one arm each.
type claimStmts struct {
	// mu guards byShape.
	mu      sync.Mutex
	byShape map[claimShape]*sql.Stmt
}

// prepared returns the statement of shape, preparing it on db if needed.
// It must not be called inside a writer transaction: preparing needs the
// writer's only connection.
func (c *claimStmts) prepared(ctx context.Context, db *sql.DB, shape claimShape) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.byShape[shape]; ok {
		return s, nil
	}
	s, err := db.PrepareContext(ctx, sqlClaimCandidates(shape.limit, shape.kinds))
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if c.byShape == nil {
		c.byShape = make(map[claimShape]*sql.Stmt)
	}
	c.byShape[shape] = s
	return s, nil
}

// close closes the statements prepared so far.
func (c *claimStmts) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for shape, s := range c.byShape {
		s.Close()
		delete(c.byShape, shape)
	}
}
