package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlClaimCandidates returns (claimColumns of) up to limit due jobs of queue
// ?1 at time ?2, in claim order, whose kind is in the JSON array ?3 (NULL:
// any) and not in the JSON array ?4 (NULL: none). A paused queue has no due
// jobs.
//
// unpaused holds the queue, or no row when kiln_queue says it is paused: one
// primary-key lookup per claim, materialized once. The available jobs and
// the walk of priorities seek their index with its queue as the key, so a
// paused queue's key is NULL and no index entry is read at all. (A
// NOT EXISTS term next to queue = ?1 would be evaluated once too, but
// SQLite would still walk every index entry of the queue to reject it.)
//
// Available jobs are read from the front of kiln_job_claim_available.
// Scheduled and retryable jobs are read from kiln_job_claim_waiting one
// priority at a time (prio walks the priorities present with one index seek
// each), seeking the range scheduled_at <= now: jobs due in the future are
// never read, however many there are.
func sqlClaimCandidates(limit int) string {
	return fmt.Sprintf(sqlClaimCandidatesFormat, limit)
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
),
available AS (
	SELECT ` + claimColumns + ` FROM kiln_job INDEXED BY kiln_job_claim_available
	WHERE state = 'available' AND queue = (SELECT queue FROM unpaused) AND scheduled_at <= ?2
		AND (?3 IS NULL OR kind IN (SELECT value FROM json_each(?3)))
		AND (?4 IS NULL OR kind NOT IN (SELECT value FROM json_each(?4)))
	ORDER BY priority, scheduled_at, id
	LIMIT %[1]d
),
waiting AS (
	SELECT ` + claimColumns + ` FROM kiln_job INDEXED BY kiln_job_claim_waiting
	WHERE state IN ('scheduled', 'retryable') AND queue = ?1
		AND priority IN (SELECT p FROM prio WHERE p IS NOT NULL) AND scheduled_at <= ?2
		AND (?3 IS NULL OR kind IN (SELECT value FROM json_each(?3)))
		AND (?4 IS NULL OR kind NOT IN (SELECT value FROM json_each(?4)))
	ORDER BY priority, scheduled_at, id
	LIMIT %[1]d
)
SELECT * FROM (SELECT * FROM available UNION ALL SELECT * FROM waiting)
ORDER BY priority, scheduled_at, id
LIMIT %[1]d`

// sqlClaimUpdate moves the jobs whose IDs are in the JSON array ?4 to
// running. It returns nothing: the claim already read the jobs, and SQLite's
// RETURNING costs more than that read.
const sqlClaimUpdate = `UPDATE kiln_job SET state = 'running', attempt = attempt + 1,
	attempted_at = ?1, leased_by = ?2, lease_expires_at = ?3, cancel_requested_at = NULL
WHERE id IN (SELECT value FROM json_each(?4))`

// claimColumns are the columns sqlClaimCandidates returns, in scanCandidate's
// order: those of kiln_job that a claim does not set.
const claimColumns = `id, kind, queue, args, priority, attempt, max_attempts, created_at,
	scheduled_at, tags, metadata, unique_key, last_error`

// scanCandidate reads one row of claimColumns as the job is before the
// claim. FinalizedAt is nil: no job that can be claimed is finalized.
func scanCandidate(rows *sql.Rows) (*kilntype.JobRow, error) {
	var (
		j                      kilntype.JobRow
		createdAt, scheduledAt int64
		tags                   string
		args, metadata         []byte
		uniqueKey, lastError   sql.NullString
	)
	if err := rows.Scan(&j.ID, &j.Kind, &j.Queue, &args, &j.Priority, &j.Attempt,
		&j.MaxAttempts, &createdAt, &scheduledAt, &tags, &metadata, &uniqueKey,
		&lastError); err != nil {
		return nil, err
	}
	j.Args, j.ArgsBytes, j.Metadata = args, len(args), metadata
	j.CreatedAt, j.ScheduledAt = fromMicros(createdAt), fromMicros(scheduledAt)
	j.UniqueKey, j.LastError = uniqueKey.String, lastError.String
	var err error
	if j.Tags, err = decodeTags(tags); err != nil {
		return nil, fmt.Errorf("job %d: %w", j.ID, err)
	}
	return &j, nil
}

// markClaimed sets on j what sqlClaimUpdate set in the store.
func markClaimed(j *kilntype.JobRow, p *store.JobClaimParams) {
	attemptedAt, leaseExpiresAt := truncate(p.Now), truncate(p.LeaseExpiresAt)
	j.State = kilntype.JobStateRunning
	j.Attempt++
	j.AttemptedAt, j.LeaseExpiresAt = &attemptedAt, &leaseExpiresAt
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

// JobClaim moves up to params.Max due jobs of params.Queue to running, leased
// by params.LeasedBy until params.LeaseExpiresAt, and returns them in claim
// order (priority, then ScheduledAt, then ID) with Attempt already counted.
// Kinds and KindLimits restrict which jobs are taken (no Kinds means none,
// unless AnyKind is set). The claim is one IMMEDIATE
// transaction, so concurrent claims, from this process or another, never
// return the same job. A Max below 1 claims nothing, and so does a claim of
// a queue paused with QueuePause (by any process sharing the file).
func (s *Store) JobClaim(ctx context.Context, params *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	if params.ClaimsNothing() {
		return []*kilntype.JobRow{}, nil
	}
	kinds, err := jsonStrings(params.KindFilter())
	if err != nil {
		return nil, fail("claim jobs", err)
	}
	window := params.Max
	for _, limit := range params.KindLimits {
		if limit > 0 {
			window *= claimWindowFactor
			break
		}
	}
	if len(params.ClusterKindLimits) > 0 && window == params.Max {
		window *= claimWindowFactor
	}
	limit := claimLimit(window)
	candidates, err := s.sized(ctx, func(st *stmts) *batchStmt { return st.claimCandidates }, limit)
	if err != nil {
		return nil, fail("claim jobs", err)
	}
	var claimed []*kilntype.JobRow
	err = s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		p := params
		if len(params.ClusterKindLimits) > 0 {
			// The write transaction is the database's only writer, so the
			// count cannot change before the claim commits.
			running, err := countRunning(ctx, tx, params.ClusterLimitedKinds())
			if err != nil {
				return err
			}
			merged := *params
			merged.KindLimits = store.MergeKindLimits(params, running)
			p = &merged
		}
		claimed, err = claim(ctx, tx, st, tx.StmtContext(ctx, candidates), limit, p, kinds)
		return err
	})
	if err != nil {
		return nil, fail("claim jobs", err)
	}
	return claimed, nil
}

// claim runs JobClaim's rounds in tx. Each round reads a window of
// candidates in claim order, picks them while applying the kind limits, and
// moves the picked ones to running. A round that ends short of Max only
// because of kind limits is followed by another that excludes the kinds
// whose limit is reached; each round thus either fills Max, runs out of
// candidates, or excludes one more kind.
func claim(ctx context.Context, tx *sql.Tx, st *stmts, candidates *sql.Stmt, window int, p *store.JobClaimParams, kinds any) ([]*kilntype.JobRow, error) {
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
	update := tx.StmtContext(ctx, st.claimUpdate)
	now, leaseExpires := micros(p.Now), micros(p.LeaseExpiresAt)

	claimed := make([]*kilntype.JobRow, 0, p.Max)
	for len(claimed) < p.Max {
		want := p.Max - len(claimed)
		excludedJSON, err := jsonStrings(excluded)
		if err != nil {
			return nil, err
		}
		rows, err := candidates.QueryContext(ctx, p.Queue, now, kinds, excludedJSON)
		if err != nil {
			return nil, fmt.Errorf("select candidates: %w", err)
		}
		var (
			picked []*kilntype.JobRow
			read   int
		)
		for len(picked) < want && rows.Next() {
			read++
			j, err := scanCandidate(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("select candidates: %w", err)
			}
			if limit, ok := p.KindLimits[j.Kind]; ok {
				if taken[j.Kind] >= limit {
					continue
				}
				taken[j.Kind]++
				if taken[j.Kind] == limit {
					excluded = append(excluded, j.Kind)
				}
			}
			picked = append(picked, j)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("select candidates: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("select candidates: %w", err)
		}
		if len(picked) > 0 {
			ids := make([]int64, len(picked))
			for i, j := range picked {
				ids[i] = j.ID
				markClaimed(j, p)
			}
			res, err := update.ExecContext(ctx, now, p.LeasedBy, leaseExpires, jsonIDs(ids))
			if err != nil {
				return nil, fmt.Errorf("mark running: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil || n != int64(len(ids)) {
				return nil, fmt.Errorf("mark running: %d of %d jobs updated (%v)", n, len(ids), err)
			}
			claimed = append(claimed, picked...)
		}
		if len(picked) < want && read < window {
			break // no more candidates
		}
	}
	slices.SortFunc(claimed, compareClaimOrder)
	return claimed, nil
}

// compareClaimOrder orders jobs by priority, then ScheduledAt, then ID.
func compareClaimOrder(a, b *kilntype.JobRow) int {
	return cmp.Or(
		cmp.Compare(a.Priority, b.Priority),
		a.ScheduledAt.Compare(b.ScheduledAt),
		cmp.Compare(a.ID, b.ID),
	)
}

// countRunning returns how many jobs of each of kinds are running, in any
// process (kinds with none are absent). It walks the running jobs through
// kiln_job_state: as many rows as jobs run at once.
func countRunning(ctx context.Context, tx *sql.Tx, kinds []string) (map[string]int, error) {
	kindsJSON, err := jsonStrings(kinds)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT kind, count(*) FROM kiln_job INDEXED BY kiln_job_state
WHERE state = 'running' AND kind IN (SELECT value FROM json_each(?)) GROUP BY kind`, kindsJSON)
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
