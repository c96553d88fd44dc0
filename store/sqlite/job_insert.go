package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlGetUnique returns the job that holds a unique key. Its WHERE repeats the
// partial unique index's, so the index serves it.
const sqlGetUnique = `SELECT ` + jobColumns + ` FROM kiln_job
WHERE unique_key = ? AND unique_key IS NOT NULL AND state NOT IN ('completed', 'cancelled', 'discarded')`

// JobInsertMany inserts the jobs in one transaction and returns one result
// per param, in order. A param whose UniqueKey is held by a job in a
// non-final state (including one inserted earlier in the same call) is not
// inserted: its result holds that job and UniqueSkipped is true. The store
// applies no defaults; a nil Metadata is stored as {} and nil Tags as [].
// A State other than available, scheduled or pending fails the whole call.
func (s *Store) JobInsertMany(ctx context.Context, params []*store.JobInsertParams) ([]store.JobInsertResult, error) {
	if len(params) == 0 {
		return []store.JobInsertResult{}, nil
	}
	rows, err := insertRows(params)
	if err != nil {
		return nil, fail("insert jobs", err)
	}
	dependencies, err := store.CheckDependencies(params)
	if err != nil {
		return nil, fail("insert jobs", err)
	}
	inserts, err := s.batch(ctx, func(st *stmts) *batchStmt { return st.insertJobs }, len(params))
	if err != nil {
		return nil, fail("insert jobs", err)
	}
	results := make([]store.JobInsertResult, len(params))
	err = s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		if err := insertJobs(ctx, tx, st, inserts, rows, results); err != nil || !dependencies {
			return err
		}
		return insertDependencies(ctx, tx, params, results, micros(params[0].CreatedAt))
	})
	if err != nil {
		return nil, fail("insert jobs", err)
	}
	return results, nil
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

// insertJobs inserts rows in tx, in chunks of batchSizes, with inserts (the
// multi-row insert statements by size, from Store.batch for len(rows)), and
// fills results as JobInsertMany returns them. JobInsertMany and
// RecurringEnqueue both insert jobs through it.
func insertJobs(ctx context.Context, tx *sql.Tx, st *stmts, inserts map[int]*sql.Stmt, rows []insertedRow, results []store.JobInsertResult) error {
	args := make([]any, 0, min(len(rows), batchSizes[0])*13)
	counted := make(moves, 1)
	seqs, err := fairSeqs(ctx, tx, st, rows)
	if err != nil {
		return fmt.Errorf("fair order: %w", err)
	}
	for start, size := range chunks(len(rows)) {
		args = args[:0]
		for i, r := range rows[start : start+size] {
			j := r.job
			var seq any
			if seqs != nil && seqs[start+i] > 0 {
				seq = seqs[start+i]
			}
			args = append(args, j.Kind, j.Queue, string(j.Args), string(j.State), int64(j.Priority),
				int64(j.MaxAttempts), micros(j.CreatedAt), micros(j.ScheduledAt), r.tags,
				string(j.Metadata), nullString(j.UniqueKey), j.Partition, seq)
		}
		insert := tx.StmtContext(ctx, inserts[size])
		if err := insertChunk(ctx, tx, st, insert, rows[start:start+size], results[start:start+size], args); err != nil {
			return fmt.Errorf("params %d to %d: %w", start, start+size-1, err)
		}
		for _, r := range results[start : start+size] {
			if !r.UniqueSkipped {
				counted.add(r.Job.Queue, string(r.Job.State), 1, 0)
			}
		}
	}
	return counted.write(ctx, tx.StmtContext(ctx, st.countMoves))
}

// fairGroup is a queue, kind and priority of jobs inserted available with
// a key: their tags in fair order are counted apart (migration 035).
type fairGroup struct {
	queue, kind string
	priority    int
}

// sqlFairTag records, at queue ?1, kind ?2 and priority ?3, the last
// tags of the keys of the JSON array ?4 that have ?5 jobs each to tag
// (migration 035), and returns each key with its new last tag: a key's
// jobs get the tags max(V, last + 1) up to it, V the tag at the front of
// the fair order there or, when it is empty, the largest tag given (the
// row of the empty key), but never below the largest tag claimed there in
// fair order (that row's claim_seq, migration 038: start-time fair
// queueing's virtual time, which a front held back by a key at its limit
// or over its budget does not hold back). One UPSERT of one row per key,
// however many jobs.
const sqlFairTag = `INSERT INTO kiln_job_fair_key (queue, kind, partition_key, priority, last_seq)
SELECT ?1, ?2, k.value, ?3, v.v + ?5 - 1 FROM json_each(?4) AS k, (SELECT max(coalesce(
		(SELECT fair_seq FROM kiln_job INDEXED BY kiln_job_claim_fair
			WHERE state = 'available' AND partition_key <> '' AND fair_seq IS NOT NULL
				AND queue = ?1 AND kind = ?2 AND priority = ?3 ORDER BY fair_seq LIMIT 1),
		(SELECT last_seq FROM kiln_job_fair_key WHERE queue = ?1 AND kind = ?2 AND partition_key = '' AND priority = ?3),
		1), coalesce((SELECT claim_seq FROM kiln_job_fair_key WHERE queue = ?1 AND kind = ?2 AND partition_key = '' AND priority = ?3), 0)) AS v) AS v
WHERE true
ON CONFLICT (queue, kind, partition_key, priority) DO UPDATE SET last_seq = max(last_seq + ?5, excluded.last_seq)
RETURNING partition_key, last_seq`

// sqlFairTop records ?4 as the largest tag given at queue ?1, kind ?2 and
// priority ?3 (the row of the key ”) unless it holds a larger one.
const sqlFairTop = `INSERT INTO kiln_job_fair_key (queue, kind, partition_key, priority, last_seq)
VALUES (?1, ?2, '', ?3, ?4)
ON CONFLICT (queue, kind, partition_key, priority) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)`

// fairSeqs returns the tags in fair order of rows (0: none, for the jobs
// not inserted available with a key; nil when no row is), and records the
// keys' new last tags (migration 035): start-time fair queueing, each
// job's tag is max(V, its key's last + 1), V as sqlFairTag says. A key's
// jobs of one call are tagged in schedule order (then in the order of
// rows, the order of their IDs), so that jobs that become available
// together keep their schedule order; but the jobs with a unique key are
// not tagged here: the insert trigger tags those that are inserted, after
// the call's other jobs of their key (a job whose unique key is held must
// not consume a tag of its key).
// Per queue, kind and priority of the call, one statement per distinct
// number of jobs per key (sqlFairTag: usually one) and one more
// (sqlFairTop), however many jobs.
func fairSeqs(ctx context.Context, tx *sql.Tx, st *stmts, rows []insertedRow) ([]int64, error) {
	groups := map[fairGroup][]int{} // the indexes in rows of each group's jobs
	var order []fairGroup
	for i, r := range rows {
		j := r.job
		if j.State != kilntype.JobStateAvailable || j.Partition == "" || j.UniqueKey != "" {
			// A job with a unique key is left to the insert trigger
			// (kiln_job_fair_insert), which tags it only if it is
			// inserted: one whose key is held (UniqueSkipped) must not
			// take a tag of its key.
			continue
		}
		g := fairGroup{j.Queue, j.Kind, j.Priority}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], i)
	}
	if len(order) == 0 {
		return nil, nil
	}
	seqs := make([]int64, len(rows))
	tag, top := tx.StmtContext(ctx, st.fairTag), tx.StmtContext(ctx, st.fairTop)
	var list []byte
	for _, g := range order {
		idx := groups[g]
		slices.SortStableFunc(idx, func(a, b int) int {
			return rows[a].job.ScheduledAt.Compare(rows[b].job.ScheduledAt)
		})
		count := make(map[string]int, len(idx)) // jobs per key
		for _, i := range idx {
			count[rows[i].job.Partition]++
		}
		byCount := map[int][]string{} // keys per number of jobs
		for k, n := range count {
			byCount[n] = append(byCount[n], k)
		}
		last := make(map[string]int64, len(count)) // each key's new last tag
		var given int64
		for n, keys := range byCount {
			list = append(list[:0], '[')
			for i, k := range keys {
				if i > 0 {
					list = append(list, ',')
				}
				list = appendJSONString(list, k)
			}
			list = append(list, ']')
			res, err := tag.QueryContext(ctx, g.queue, g.kind, g.priority, string(list), n)
			if err != nil {
				return nil, err
			}
			for res.Next() {
				var k string
				var l int64
				if err := res.Scan(&k, &l); err != nil {
					res.Close()
					return nil, err
				}
				last[k], given = l, max(given, l)
			}
			if err := errors.Join(res.Err(), res.Close()); err != nil {
				return nil, err
			}
		}
		if len(last) != len(count) {
			return nil, fmt.Errorf("%d last tags for %d keys", len(last), len(count))
		}
		for k, n := range count { // each key's next tag: the first of its n
			last[k] -= int64(n) - 1
		}
		for _, i := range idx {
			k := rows[i].job.Partition
			seqs[i] = last[k]
			last[k]++
		}
		if _, err := top.ExecContext(ctx, g.queue, g.kind, g.priority, given); err != nil {
			return nil, err
		}
	}
	return seqs, nil
}

// inserted is a job that one multi-row insert inserted.
type inserted struct {
	id        int64
	uniqueKey sql.NullString
}

// insertChunk inserts rows with insert, a multi-row statement (args are
// their values), and fills results. SQLite numbers the inserted rows in VALUES
// order, so the returned IDs, sorted, match the inserted rows in order; a
// row with a unique key is skipped when the next inserted ID does not carry
// its key, and its result then holds the job that holds the key.
func insertChunk(ctx context.Context, tx *sql.Tx, st *stmts, insert *sql.Stmt, rows []insertedRow, results []store.JobInsertResult, args []any) error {
	res, err := insert.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	var ins []inserted
	for res.Next() {
		var r inserted
		if err := res.Scan(&r.id, &r.uniqueKey); err != nil {
			res.Close()
			return err
		}
		ins = append(ins, r)
	}
	if err := errors.Join(res.Err(), res.Close()); err != nil {
		return err
	}
	slices.SortFunc(ins, func(a, b inserted) int { return cmp.Compare(a.id, b.id) })

	var getUnique *sql.Stmt
	next := 0
	for i, r := range rows {
		key := r.job.UniqueKey
		if next < len(ins) && (key == "" || ins[next].uniqueKey.String == key) {
			if ins[next].uniqueKey.String != key {
				return fmt.Errorf("inserted job %d does not match its row", ins[next].id)
			}
			r.job.ID = ins[next].id
			results[i].Job = r.job
			next++
			continue
		}
		if key == "" {
			return fmt.Errorf("row %d was not inserted", i)
		}
		if getUnique == nil {
			getUnique = tx.StmtContext(ctx, st.getUnique)
		}
		existing, err := scanJob(getUnique.QueryRowContext(ctx, key))
		if err != nil {
			return fmt.Errorf("get job with unique key %q: %w", key, err)
		}
		results[i] = store.JobInsertResult{Job: existing, UniqueSkipped: true}
		if r.replace.Any() && store.Replaceable(existing.State) {
			if results[i].Job, err = replaceUnique(ctx, tx, existing.ID, r); err != nil {
				return fmt.Errorf("replace job %d: %w", existing.ID, err)
			}
			results[i].UniqueReplaced = true
		}
	}
	if next != len(ins) {
		return fmt.Errorf("%d jobs inserted, %d matched", len(ins), next)
	}
	return nil
}

// insertedRow is a job about to be inserted: the row the store will return
// (all but its ID) and its encoded tags.
type insertedRow struct {
	job     *kilntype.JobRow
	tags    string
	replace store.UniqueReplace // what a held unique key changes
}

// insertRow builds the row that inserting p stores, as JobGet would return
// it: times in UTC to the microsecond, Metadata {} when nil, Tags never nil.
func insertRow(p *store.JobInsertParams) (insertedRow, error) {
	switch p.State {
	case kilntype.JobStateAvailable, kilntype.JobStateScheduled, kilntype.JobStatePending:
	default:
		return insertedRow{}, fmt.Errorf("cannot insert a job in state %q", p.State)
	}
	if err := store.ValidateJobInsert(p); err != nil {
		return insertedRow{}, err
	}
	tags, err := encodeTags(p.Tags)
	if err != nil {
		return insertedRow{}, err
	}
	metadata := []byte("{}")
	if p.Metadata != nil {
		metadata = append([]byte(nil), p.Metadata...)
	}
	copiedTags := make([]string, len(p.Tags))
	copy(copiedTags, p.Tags)
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
			Tags:        copiedTags,
			Metadata:    metadata,
			UniqueKey:   p.UniqueKey,
			Partition:   p.Partition,
		},
		tags:    tags,
		replace: p.UniqueReplace,
	}, nil
}
