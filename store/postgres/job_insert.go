package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlInsertJobs inserts the jobs whose columns are the arrays $1 to $12, in
// array order, so that their IDs increase in that order. Args and metadata
// come as JSON text, tags as a JSON array each (unnest cannot take an array
// of arrays of different lengths), a unique key as "" for none, a
// partition key ($12) as "" for none. It returns the ID and unique key of
// each inserted job. It is for rows without a unique key: a round with
// one runs sqlInsertJobsUnique.
//
// A plain INSERT, without ON CONFLICT: with it PostgreSQL inserts every
// row speculatively (a probe of the primary key before the insert, a lock
// on a speculative-insertion token, and a WAL record confirming the row
// after its index entries), which a job without a unique key, whose only
// unique column is its generated ID, does not need (docs/benchmarks.md,
// "Database CPU per job (issue 11, 2026-12-05)").
const sqlInsertJobs = sqlInsertJobsRows + `
RETURNING id, unique_key`

// sqlInsertJobsUnique is sqlInsertJobs for a round in which some row has a
// unique key: a row whose key is held by a job that may still run (or by
// an earlier row) is skipped (ON CONFLICT DO NOTHING, arbitrated by
// kiln_job_unique_key).
const sqlInsertJobsUnique = sqlInsertJobsRows + `
ON CONFLICT DO NOTHING
RETURNING id, unique_key`

// sqlInsertJobsRows is the INSERT of sqlInsertJobs and sqlInsertJobsUnique,
// up to its conflict and RETURNING clauses. Its rows come from one unnest
// per array in a select list, which PostgreSQL runs in step (a ProjectSet
// node) and hands on one row at a time, in array order: unnest of all the
// arrays in FROM, WITH ORDINALITY, stored every row in a tuplestore and
// sorted them by ordinal back into that order, 7,800 database
// instructions more per job (docs/benchmarks.md, "Database instructions
// per job").
const sqlInsertJobsRows = `INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, max_attempts,
	created_at, scheduled_at, tags, metadata, unique_key, partition_key)
SELECT r.kind, r.queue, r.args::jsonb, r.state, r.priority, r.max_attempts,
	r.created_at, r.scheduled_at,
	CASE WHEN r.tags = '[]' THEN '{}'::text[]
		ELSE ARRAY(SELECT jsonb_array_elements_text(r.tags::jsonb)) END,
	r.metadata::jsonb, nullif(r.unique_key, ''), r.partition_key
FROM (
	SELECT unnest($1::text[]) AS kind, unnest($2::text[]) AS queue, unnest($3::text[]) AS args,
		unnest($4::text[]) AS state, unnest($5::integer[]) AS priority, unnest($6::integer[]) AS max_attempts,
		unnest($7::timestamptz[]) AS created_at, unnest($8::timestamptz[]) AS scheduled_at,
		unnest($9::text[]) AS tags, unnest($10::text[]) AS metadata, unnest($11::text[]) AS unique_key,
		unnest($12::text[]) AS partition_key
) AS r`

// sqlInsertJobsShared is sqlInsertJobs for a round whose rows all share
// their kind ($1), queue ($2), state ($4), priority ($5), max attempts
// ($6), tags ($9, a text array), metadata ($10, JSON text) and partition
// key ($11, "" for none), and have no unique key (sharedRound): those
// come as one value each, and only args ($3, JSON text), created_at ($7)
// and scheduled_at ($8) as arrays, one element per row, in the order of
// the IDs; $7 or $8 may instead hold one time, every row's (the rows past
// its end read NULL from its unnest, which coalesce replaces by its
// first element: no row is ever inserted with a NULL time). It returns
// what sqlInsertJobs returns, a NULL unique key for each.
//
// A batch of one kind, as a burn-down's or a client's InsertMany of one
// worker's jobs (one time for all: the client reads its clock once per
// call), thus sends 1 array of an element per job instead of 12:
// PostgreSQL receives (array_recv) and unnests 11 fewer of them
// (docs/benchmarks.md, "PostgreSQL: the floor's gap, counted again").
const sqlInsertJobsShared = `INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, max_attempts,
	created_at, scheduled_at, tags, metadata, unique_key, partition_key)
SELECT $1::text, $2::text, r.args::jsonb, $4::text, $5::integer, $6::integer,
	coalesce(r.created_at, ($7::timestamptz[])[1]), coalesce(r.scheduled_at, ($8::timestamptz[])[1]),
	$9::text[], $10::text::jsonb, NULL, $11::text
FROM (
	SELECT unnest($3::text[]) AS args, unnest($7::timestamptz[]) AS created_at,
		unnest($8::timestamptz[]) AS scheduled_at
) AS r
RETURNING id, unique_key`

// sharedRound reports whether the rows at indexes todo, at least one, can
// go in sqlInsertJobsShared: none has a unique key, and all share every
// column but args, created_at and scheduled_at.
func sharedRound(rows []insertedRow, todo []int) bool {
	first := rows[todo[0]]
	f := first.job
	for _, i := range todo {
		r := rows[i]
		j := r.job
		if j.UniqueKey != "" || j.Kind != f.Kind || j.Queue != f.Queue || j.State != f.State ||
			j.Priority != f.Priority || j.MaxAttempts != f.MaxAttempts || r.tags != first.tags ||
			string(j.Metadata) != string(f.Metadata) || j.Partition != f.Partition {
			return false
		}
	}
	return true
}

// sqlGetUnique returns the jobs that hold the unique keys of the array $1.
// Its WHERE repeats the partial unique index's, so the index serves it.
const sqlGetUnique = `SELECT ` + jobColumns + ` FROM {s}.kiln_job
WHERE unique_key = ANY($1::text[]) AND unique_key IS NOT NULL
	AND state NOT IN ('completed', 'cancelled', 'discarded')`

// maxInsertRounds bounds the rounds of insertJobs (see there).
const maxInsertRounds = 5

// JobInsertMany inserts the jobs in one transaction, with one statement
// (one more when some unique keys are held), and returns one result per
// param, in order. A param whose UniqueKey is held by a job in a non-final
// state (including one inserted earlier in the same call) is not inserted:
// its result holds that job and UniqueSkipped is true. The store applies no
// defaults; a nil Metadata is stored as {} and nil Tags as an empty array.
// A State other than available, scheduled or pending fails the whole call.
//
// Jobs without a unique key or dependencies (oneStatement) are inserted by
// their one statement in its own implicit transaction, which is as atomic
// as BEGIN, the statement and COMMIT, without their two round trips: an
// enqueue is then two round trips, the insert and the notification (issue
// 11: the enqueue was the longest part of most of the slowest idle
// enqueue-to-start samples, docs/benchmarks.md).
func (s *Store) JobInsertMany(ctx context.Context, params []*store.JobInsertParams) ([]store.JobInsertResult, error) {
	if len(params) == 0 {
		return []store.JobInsertResult{}, nil
	}
	var (
		results []store.JobInsertResult
		err     error
	)
	if oneStatement(params) {
		results, err = s.insertJobs(ctx, s.pool, params)
	} else {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			var err error
			results, err = s.insertJobs(ctx, tx, params)
			return err
		})
	}
	if err != nil {
		return nil, fail("insert jobs", err)
	}
	s.notifyCommitted(ctx, results)
	return results, nil
}

// JobInsertManyTx does what JobInsertMany does in tx, a transaction of the
// caller's on the Store's database: the jobs are inserted, and become
// visible to claims, only if tx commits. It is the transactional twin of
// JobInsertMany, for enqueuing jobs atomically with the caller's own
// writes.
func (s *Store) JobInsertManyTx(ctx context.Context, tx pgx.Tx, params []*store.JobInsertParams) ([]store.JobInsertResult, error) {
	if len(params) == 0 {
		return []store.JobInsertResult{}, nil
	}
	results, err := s.insertJobs(ctx, tx, params)
	if err == nil {
		err = s.notifyInserted(ctx, tx, results)
	}
	if err != nil {
		return nil, fail("insert jobs", err)
	}
	return results, nil
}

// oneStatement reports whether insertJobs inserts params with one
// statement and nothing else: none has a unique key (which may be held,
// and then read, replaced or retried) or dependencies (whose parents are
// locked first and recorded after).
func oneStatement(params []*store.JobInsertParams) bool {
	for _, p := range params {
		if p.UniqueKey != "" || p.HasDependencies() {
			return false
		}
	}
	return true
}

// insertJobs inserts params with q, which must be a transaction unless
// oneStatement(params), and returns JobInsertMany's results. A row whose unique key was held when it
// was inserted, by a job that then finished before the holder could be read,
// is inserted again in a new round.
//
// Continuations and batches (see store.CheckDependencies) add two round trips:
// before the inserts, the stored parents (ParentIDs) are locked FOR KEY
// SHARE and checked, so that an unknown one fails the call before anything
// is written (also for a param that turns out unique-skipped: an unknown
// ParentID always fails the call); after them, the parent rows, batches
// and batch members are recorded with one statement.
func (s *Store) insertJobs(ctx context.Context, q querier, params []*store.JobInsertParams) ([]store.JobInsertResult, error) {
	rows, err := insertRows(params)
	if err != nil {
		return nil, err
	}
	dependencies, err := store.CheckDependencies(params)
	if err != nil {
		return nil, err
	}
	if dependencies {
		if err := s.lockParents(ctx, q, params); err != nil {
			return nil, err
		}
	}
	results := make([]store.JobInsertResult, len(params))
	pending := make([]int, len(rows)) // indexes of the rows to insert
	for i := range pending {
		pending[i] = i
	}
	for round := 0; len(pending) > 0; round++ {
		if round == maxInsertRounds {
			return nil, fmt.Errorf("unique keys still contended after %d rounds", round)
		}
		if pending, err = s.insertRound(ctx, q, rows, pending, results); err != nil {
			return nil, err
		}
	}
	if dependencies {
		if err := s.insertDependencies(ctx, q, params, results); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// insertRound inserts the rows at indexes todo with one statement, fills
// their results, and returns the indexes of the rows to insert again.
// PostgreSQL numbers the inserted rows in array order, so the returned
// IDs, sorted, match the inserted rows in order; a row with a unique key
// was skipped when the next inserted ID does not carry its key, and its
// result then holds the job that holds the key.
func (s *Store) insertRound(ctx context.Context, q querier, rows []insertedRow, todo []int, results []store.JobInsertResult) ([]int, error) {
	if sharedRound(rows, todo) {
		return nil, s.insertShared(ctx, q, rows, todo, results)
	}
	n := len(todo)
	var (
		kinds, queues, args, states = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		priorities, maxAttempts     = make([]int32, n), make([]int32, n)
		createdAt, scheduledAt      = make([]time.Time, n), make([]time.Time, n)
		tags, metadata, uniqueKeys  = make([]string, n), make([]string, n), make([]string, n)
		partitions                  = make([]string, n)
	)
	for k, i := range todo {
		r := rows[i]
		j := r.job
		kinds[k], queues[k], args[k], states[k] = j.Kind, j.Queue, string(j.Args), string(j.State)
		priorities[k], maxAttempts[k] = int32(j.Priority), int32(j.MaxAttempts)
		createdAt[k], scheduledAt[k] = j.CreatedAt, j.ScheduledAt
		tags[k], metadata[k], uniqueKeys[k] = r.tags, string(j.Metadata), j.UniqueKey
		partitions[k] = j.Partition
	}
	stmt := sqlInsertJobs
	if slices.ContainsFunc(uniqueKeys, func(k string) bool { return k != "" }) {
		stmt = sqlInsertJobsUnique
	}
	text := func(v []string) any { return arrayArg[textArray](s.describes, v) }
	res, err := q.Query(ctx, s.sql(stmt), text(kinds), text(queues), text(args), text(states), priorities,
		maxAttempts, arrayArg[timestamptzArray](s.describes, createdAt), arrayArg[timestamptzArray](s.describes, scheduledAt),
		text(tags), text(metadata), text(uniqueKeys), text(partitions))
	if err != nil {
		return nil, err
	}
	type inserted struct {
		id        int64
		uniqueKey *string
	}
	ins, err := pgx.CollectRows(res, func(row pgx.CollectableRow) (inserted, error) {
		var r inserted
		err := row.Scan(&r.id, &r.uniqueKey)
		return r, err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ins, func(a, b inserted) int { return cmp.Compare(a.id, b.id) })

	var skipped []int // indexes into rows
	next := 0
	for _, i := range todo {
		j := rows[i].job
		key := j.UniqueKey
		if next < len(ins) && (key == "" || deref(ins[next].uniqueKey) == key) {
			if got := deref(ins[next].uniqueKey); got != key {
				return nil, fmt.Errorf("inserted job %d does not match its row", ins[next].id)
			}
			job := *j
			job.ID = ins[next].id
			results[i] = store.JobInsertResult{Job: &job}
			next++
			continue
		}
		if key == "" {
			return nil, fmt.Errorf("row %d was not inserted", i)
		}
		skipped = append(skipped, i)
	}
	if next != len(ins) {
		return nil, fmt.Errorf("%d jobs inserted, %d matched", len(ins), next)
	}
	if len(skipped) == 0 {
		return nil, nil
	}

	keys := make([]string, len(skipped))
	for k, i := range skipped {
		keys[k] = rows[i].job.UniqueKey
	}
	holders, err := scanJobs(q.Query(ctx, s.sql(sqlGetUnique), keys))
	if err != nil {
		return nil, fmt.Errorf("get jobs holding unique keys: %w", err)
	}
	byKey := make(map[string]*kilntype.JobRow, len(holders))
	for _, h := range holders {
		byKey[h.UniqueKey] = h
	}
	var again []int
	for _, i := range skipped {
		h, ok := byKey[rows[i].job.UniqueKey]
		if !ok { // the holder finished meanwhile: the key is free
			again = append(again, i)
			continue
		}
		copied := *h
		copied.Tags = slices.Clone(h.Tags)
		results[i] = store.JobInsertResult{Job: &copied, UniqueSkipped: true}
	}
	if err := s.replaceUnique(ctx, q, rows, skipped, results); err != nil {
		return nil, err
	}
	return again, nil
}

// insertShared inserts the rows at indexes todo, which sharedRound
// accepts, with sqlInsertJobsShared, and fills their results. With no
// unique key, every row is inserted.
func (s *Store) insertShared(ctx context.Context, q querier, rows []insertedRow, todo []int, results []store.JobInsertResult) error {
	n := len(todo)
	args, createdAt, scheduledAt := make([]string, n), make([]time.Time, n), make([]time.Time, n)
	for k, i := range todo {
		j := rows[i].job
		args[k], createdAt[k], scheduledAt[k] = string(j.Args), j.CreatedAt, j.ScheduledAt
	}
	createdAt, scheduledAt = oneIfShared(createdAt, time.Time.Equal), oneIfShared(scheduledAt, time.Time.Equal)
	f := rows[todo[0]].job
	res, err := q.Query(ctx, s.sql(sqlInsertJobsShared), f.Kind, f.Queue, arrayArg[textArray](s.describes, args),
		string(f.State), int32(f.Priority), int32(f.MaxAttempts), arrayArg[timestamptzArray](s.describes, createdAt),
		arrayArg[timestamptzArray](s.describes, scheduledAt), f.Tags, string(f.Metadata), f.Partition)
	if err != nil {
		return err
	}
	ids := make([]int64, 0, n)
	var (
		id  int64
		key *string
	)
	dest := []any{&id, &key}
	if _, err := pgx.ForEachRow(res, dest, func() error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		return err
	}
	if len(ids) != n {
		return fmt.Errorf("%d jobs inserted, want %d", len(ids), n)
	}
	slices.Sort(ids)
	for k, i := range todo {
		job := *rows[i].job
		job.ID = ids[k]
		results[i] = store.JobInsertResult{Job: &job}
	}
	return nil
}

// insertedRow is a job about to be inserted: the row the store will return
// (all but its ID) and its tags as a JSON array.
type insertedRow struct {
	job     *kilntype.JobRow
	tags    string
	replace store.UniqueReplace // what a held unique key changes
}

// insertRows builds the row of each param (see insertRow); a nil or
// invalid param fails them all.
func insertRows(params []*store.JobInsertParams) ([]insertedRow, error) {
	rows := make([]insertedRow, len(params))
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("param %d is nil", i)
		}
		var err error
		if rows[i], err = insertRow(p); err != nil {
			return nil, fmt.Errorf("param %d: %w", i, err)
		}
	}
	return rows, nil
}

// insertRow builds the row that inserting p stores, as JobGet would return
// it (but for jsonb's normalization of Args and Metadata): times in UTC to
// the microsecond, Metadata {} when nil, Tags never nil.
func insertRow(p *store.JobInsertParams) (insertedRow, error) {
	switch p.State {
	case kilntype.JobStateAvailable, kilntype.JobStateScheduled, kilntype.JobStatePending:
	default:
		return insertedRow{}, fmt.Errorf("cannot insert a job in state %q", p.State)
	}
	if err := store.ValidateJobInsert(p); err != nil {
		return insertedRow{}, err
	}
	tags := "[]"
	if len(p.Tags) > 0 {
		b, err := json.Marshal(p.Tags)
		if err != nil {
			return insertedRow{}, fmt.Errorf("encode tags: %w", err)
		}
		tags = string(b)
	}
	metadata := []byte("{}")
	if p.Metadata != nil {
		metadata = append([]byte(nil), p.Metadata...)
	}
	return insertedRow{
		job: &kilntype.JobRow{
			Kind:        p.Kind,
			Queue:       p.Queue,
			Args:        append([]byte(nil), p.Args...),
			ArgsBytes:   len(p.Args),
			State:       p.State,
			Priority:    p.Priority,
			MaxAttempts: p.MaxAttempts,
			CreatedAt:   truncate(p.CreatedAt),
			ScheduledAt: truncate(p.ScheduledAt),
			Tags:        append(make([]string, 0, len(p.Tags)), p.Tags...),
			Metadata:    metadata,
			UniqueKey:   p.UniqueKey,
			Partition:   p.Partition,
		},
		tags:    tags,
		replace: p.UniqueReplace,
	}, nil
}
