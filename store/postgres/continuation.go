package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlLockParents locks the stored jobs of the array $1 FOR KEY SHARE and
// returns the IDs of those that exist. The lock keeps a parent from being
// deleted (by JobDelete or the cleaner, which lock FOR UPDATE) until the
// inserting transaction ends; it conflicts with neither a finish nor a
// lease renewal of a running parent.
const sqlLockParents = `SELECT id FROM {s}.kiln_job WHERE id = ANY($1::bigint[]) ORDER BY id FOR KEY SHARE`

// lockParents locks the ParentIDs of params in q, a transaction, and fails
// with a wrapped kilntype.ErrNotFound, naming the first param with an
// unknown parent, when one does not exist. It runs before any job is
// inserted, so that such a call writes nothing, in JobInsertManyTx's
// transaction too.
func (s *Store) lockParents(ctx context.Context, q querier, params []*store.JobInsertParams) error {
	var ids []int64
	for _, p := range params {
		ids = append(ids, p.ParentIDs...)
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := q.Query(ctx, s.sql(sqlLockParents), ids)
	if err != nil {
		return fmt.Errorf("lock parent jobs: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("lock parent jobs: %w", err)
	}
	if len(found) == len(ids) {
		return nil
	}
	for i, p := range params {
		for _, id := range p.ParentIDs {
			if _, ok := slices.BinarySearch(found, id); !ok {
				return fmt.Errorf("param %d: parent job %d: %w", i, id, kilntype.ErrNotFound)
			}
		}
	}
	return nil
}

// sqlInsertDependencies records, in one statement, the parents of the
// jobs just inserted (rows of $1 child, $2 parent, $3 policy), their
// batches ($4 ID, $5 created at, $6 callback job or NULL; one row per
// batch) and the batches' members ($7 batch, $8 job). A parent or member
// row already recorded is left as it is; a batch already stored fails the
// statement with a unique violation of kiln_batch_pkey (a concurrent
// insert of the same new ID waits for the other transaction, and fails if
// it commits), which aborts the transaction. kiln_batch_job's foreign key
// is checked at the end of the statement, once the batches are written.
const sqlInsertDependencies = `WITH parents AS (
	INSERT INTO {s}.kiln_job_parent (child_id, parent_id, on_failure)
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])
	ON CONFLICT DO NOTHING
),
batches AS (
	INSERT INTO {s}.kiln_batch AS b (id, created_at, callback_job_id)
	SELECT * FROM unnest($4::text[], $5::timestamptz[], $6::bigint[])
)
INSERT INTO {s}.kiln_batch_job (batch_id, job_id)
SELECT * FROM unnest($7::text[], $8::bigint[])
ON CONFLICT DO NOTHING`

// insertDependencies records the parents and batches of the jobs just
// inserted in q (results holds them; a unique-skipped job records
// nothing). A ParentRefs entry names the job of the earlier param, or the
// job that holds its unique key when that param was skipped. A batch is
// created with the CreatedAt of its first job; when one call names
// several callbacks of a batch, the last one is kept. A batch stored
// before fails the call with store.BatchExistsError.
func (s *Store) insertDependencies(ctx context.Context, q querier, params []*store.JobInsertParams, results []store.JobInsertResult) error {
	var (
		children, parents []int64
		policies          []string
		batchIDs          []string
		batchCreated      []time.Time
		batchCallbacks    []*int64
		batchIndex        = map[string]int{}
		memberBatches     []string
		members           []int64
	)
	for i, p := range params {
		if results[i].UniqueSkipped {
			continue
		}
		child := results[i].Job.ID
		add := func(parent int64) {
			children, parents = append(children, child), append(parents, parent)
			policies = append(policies, string(p.ParentFailure))
		}
		for _, id := range p.ParentIDs {
			add(id)
		}
		for _, ref := range p.ParentRefs {
			add(results[ref].Job.ID)
		}
		if p.BatchID == "" {
			continue
		}
		b, ok := batchIndex[p.BatchID]
		if !ok {
			b = len(batchIDs)
			batchIndex[p.BatchID] = b
			batchIDs = append(batchIDs, p.BatchID)
			batchCreated = append(batchCreated, truncate(p.CreatedAt))
			batchCallbacks = append(batchCallbacks, nil)
		}
		if p.BatchCallback {
			batchCallbacks[b] = &child
		} else {
			memberBatches, members = append(memberBatches, p.BatchID), append(members, child)
		}
	}
	if len(children) == 0 && len(batchIDs) == 0 {
		return nil
	}
	_, err := q.Exec(ctx, s.sql(sqlInsertDependencies), children, parents, policies,
		batchIDs, batchCreated, batchCallbacks, memberBatches, members)
	if err != nil {
		if id, ok := existingBatch(err, batchIDs); ok {
			return store.BatchExistsError(id)
		}
		return fmt.Errorf("record parents and batches: %w", err)
	}
	return nil
}

// existingBatch reports whether err is the unique violation of
// kiln_batch's primary key, and which of ids it names (its first when the
// error's detail names none of them).
func existingBatch(err error, ids []string) (string, bool) {
	var e *pgconn.PgError
	if !errors.As(err, &e) || e.Code != codeUniqueViolation || e.ConstraintName != "kiln_batch_pkey" || len(ids) == 0 {
		return "", false
	}
	for _, id := range ids { // the detail: Key (id)=(<id>) already exists.
		if strings.Contains(e.Detail, "=("+id+")") {
			return id, true
		}
	}
	return ids[0], true
}

// sqlResolvePending releases, at $1, up to $2 pending jobs whose parents
// have all ended, oldest first, in one statement:
//   - ready reads the pending jobs in ID order through kiln_job_pending,
//     keeps those without a parent that is still stored and not finalized
//     (each probe is a primary key lookup in kiln_job_parent and
//     kiln_job), and locks them FOR UPDATE SKIP LOCKED: two resolvers (or
//     a resolver and a JobCancel) never take one job, and a job released
//     by a transaction that committed after this statement's snapshot
//     fails the re-check of its state and is left out.
//   - outcome finds, for each, its first parent (by ID) that did not
//     complete, with that parent's state ('deleted' when it is gone) and
//     the child's policy, and, for a batch callback, its batch's counts.
//   - released moves each job, found by primary key, to cancelled (policy
//     cancel and a parent that did not complete: FinalizedAt $1 and a
//     LastError naming the parent) or else to available at $1, merging the
//     batch's counts into a callback's metadata.
//   - counted writes the counter deltas of the moved jobs, which left
//     pending.
//
// It returns the moved jobs as they are after, in ID order.
var sqlResolvePending = fmt.Sprintf(resolvePending, "")

// sqlResolveChildren is sqlResolvePending for the children of the jobs
// whose IDs are in $3 only, found through kiln_job_parent_parent.
var sqlResolveChildren = fmt.Sprintf(resolvePending,
	"c.id IN (SELECT d.child_id FROM {s}.kiln_job_parent AS d WHERE d.parent_id = ANY($3::bigint[])) AND")

// resolvePending is sqlResolvePending with a %s for a condition on the
// pending jobs.
var resolvePending = `WITH ready AS MATERIALIZED (
	SELECT c.id FROM {s}.kiln_job AS c
	WHERE %s c.state = 'pending' AND NOT EXISTS (
		SELECT 1 FROM {s}.kiln_job_parent AS d JOIN {s}.kiln_job AS p ON p.id = d.parent_id
		WHERE d.child_id = c.id AND p.state NOT IN ('completed', 'cancelled', 'discarded'))
	ORDER BY c.id
	LIMIT $2
	FOR UPDATE OF c SKIP LOCKED
),
outcome AS MATERIALIZED (
	SELECT r.id, f.parent_id, f.parent_state, f.on_failure = 'cancel' AS cancel,
		cb.batch_id, cb.total, cb.completed, cb.failed
	FROM ready AS r
	LEFT JOIN LATERAL (
		SELECT d.parent_id, coalesce(p.state, 'deleted') AS parent_state, d.on_failure
		FROM {s}.kiln_job_parent AS d LEFT JOIN {s}.kiln_job AS p ON p.id = d.parent_id
		WHERE d.child_id = r.id AND (p.state IS NULL OR p.state <> 'completed')
		ORDER BY d.parent_id
		LIMIT 1
	) AS f ON true
	LEFT JOIN LATERAL (
		SELECT b.id AS batch_id, n.total, n.completed, n.failed
		FROM {s}.kiln_batch AS b CROSS JOIN LATERAL (
			SELECT count(*) AS total,
				count(*) FILTER (WHERE j.state = 'completed') AS completed,
				count(*) FILTER (WHERE j.state IN ('cancelled', 'discarded')) AS failed
			FROM {s}.kiln_batch_job AS m JOIN {s}.kiln_job AS j ON j.id = m.job_id
			WHERE m.batch_id = b.id
		) AS n
		WHERE b.callback_job_id = r.id
		ORDER BY b.id
		LIMIT 1
	) AS cb ON true
),
released AS (
	UPDATE {s}.kiln_job AS j SET
		state = CASE WHEN o.cancel THEN 'cancelled' ELSE 'available' END,
		scheduled_at = CASE WHEN o.cancel THEN j.scheduled_at ELSE $1::timestamptz END,
		finalized_at = CASE WHEN o.cancel THEN $1::timestamptz END,
		last_error = CASE WHEN o.cancel
			THEN 'parent job ' || o.parent_id || ' was ' || o.parent_state
			ELSE j.last_error END,
		metadata = CASE WHEN o.cancel IS NOT TRUE AND o.batch_id IS NOT NULL
			THEN j.metadata || jsonb_build_object('kiln.batch_id', o.batch_id,
				'kiln.batch_total', o.total, 'kiln.batch_completed', o.completed,
				'kiln.batch_failed', o.failed)
			ELSE j.metadata END
	FROM outcome AS o
	WHERE j.id = ANY(ARRAY(SELECT id FROM ready)) AND j.id = o.id AND j.state = 'pending'
	RETURNING ` + qualified("j", jobColumns) + `
),
counted AS (
	` + countMoves("released AS r", "r.queue", "r.state", "r.queue", "'pending'") + `
)
SELECT ` + jobColumns + ` FROM released ORDER BY id`

// JobResolvePending moves up to params.Max pending jobs whose parents have
// all ended (finalized, or deleted) out of pending, oldest first, with one
// statement (see sqlResolvePending): to available at params.Now when every
// parent completed or the job's ParentFailure is run; to cancelled
// (FinalizedAt Now, LastError "parent job N was STATE" for the first parent
// by ID that did not complete, STATE "deleted" when it is gone) otherwise.
// A batch callback released to available gets kiln.batch_id,
// kiln.batch_total, kiln.batch_completed and kiln.batch_failed merged into
// its metadata (top-level keys, jsonb ||). A pending job without parents
// is released at once. Jobs locked by another transaction (another
// resolver, a cancel in progress) are left for the next call. It returns
// the moved jobs as they are after, in ID order. A Max below 1 moves none.
// With params.Parents, only the children of those jobs are considered.
func (s *Store) JobResolvePending(ctx context.Context, params *store.JobResolvePendingParams) ([]*kilntype.JobRow, error) {
	if params.Max < 1 {
		return []*kilntype.JobRow{}, nil
	}
	var (
		jobs []*kilntype.JobRow
		err  error
	)
	if len(params.Parents) > 0 {
		jobs, err = scanJobs(s.pool.Query(ctx, s.sql(sqlResolveChildren), truncate(params.Now), params.Max, params.Parents))
	} else {
		jobs, err = scanJobs(s.pool.Query(ctx, s.sql(sqlResolvePending), truncate(params.Now), params.Max))
	}
	if err != nil {
		return nil, fail("resolve pending jobs", err)
	}
	return jobs, nil
}

// sqlBatchGet returns batch $1 with its number of jobs (deleted ones
// included) and the number of its stored jobs in each state, as a JSON
// object, in one snapshot.
const sqlBatchGet = `SELECT b.created_at, coalesce(b.callback_job_id, 0),
	(SELECT count(*) FROM {s}.kiln_batch_job AS m WHERE m.batch_id = b.id),
	(SELECT coalesce(jsonb_object_agg(c.state, c.n), '{}') FROM (
		SELECT j.state, count(*) AS n
		FROM {s}.kiln_batch_job AS m JOIN {s}.kiln_job AS j ON j.id = m.job_id
		WHERE m.batch_id = b.id
		GROUP BY j.state) AS c)
FROM {s}.kiln_batch AS b WHERE b.id = $1`

// BatchGet returns the batch id with its progress, or a wrapped
// kilntype.ErrNotFound. Total counts the batch's jobs, its callback
// excluded, also those deleted since; Counts only the jobs still stored.
func (s *Store) BatchGet(ctx context.Context, params *store.BatchGetParams) (*kilntype.BatchRow, error) {
	id := params.ID
	b := &kilntype.BatchRow{ID: id}
	err := s.pool.QueryRow(ctx, s.sql(sqlBatchGet), id).Scan(&b.CreatedAt, &b.CallbackJobID, &b.Total, &b.Counts)
	if isNoRows(err) {
		err = fmt.Errorf("batch %q: %w", id, kilntype.ErrNotFound)
	}
	if err != nil {
		return nil, fail("get batch", err)
	}
	b.CreatedAt = b.CreatedAt.UTC()
	if b.Counts == nil {
		b.Counts = map[kilntype.JobState]int{}
	}
	return b, nil
}
