package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// JobGet returns the job id, or a wrapped kilntype.ErrNotFound. It reads
// from the reader pool and never waits for writers.
func (s *Store) JobGet(ctx context.Context, params *store.JobGetParams) (*kilntype.JobRow, error) {
	id := params.ID
	var output sql.NullString
	job, err := scanJob(s.r.QueryRowContext(ctx, sqlGetJobOutput, id), &output)
	if err == nil && output.Valid {
		job.Output = []byte(output.String)
	}
	if errors.Is(err, sql.ErrNoRows) {
		err = kilntype.ErrNotFound
	}
	if err != nil {
		return nil, fail(fmt.Sprintf("get job %d", id), err)
	}
	return job, nil
}

// JobList returns the jobs matching every non-nil filter of params (a job
// matches a filter when its value is any of the filter's), ordered by ID,
// newest first unless params.OrderAsc, starting after the ID params.Cursor
// (0: from the first page) and ending at params.StopAt (0: at the end). It
// returns at most params.Limit jobs: 0 or less means
// store.DefaultListLimit, more than store.MaxListLimit is cut to it. An
// empty, non-nil filter matches nothing. It reads from the reader pool.
//
// The walk goes in ID order (see listWalk): through
// kiln_job_state_inflight's entries of the states asked for when they are
// all running, scheduled, retryable or pending (migration 015); through
// kiln_job_finished's (state, id, kind, queue) for one completed,
// cancelled or discarded state (migration 030), checking a kind or queue
// filter on the entry and reading from the table only the jobs listed;
// else through the table itself (its rowid is the ID), newest first,
// checking each row; or, for available jobs, or several final states,
// that the counters say are few among all jobs, through
// kiln_job_claim_untagged and kiln_job_claim_fair (which hold the
// available jobs between them) or kiln_job_finalized_kind, sorting what it
// reads.
// Outside kiln_job_finished, the kind and queue filters have no index of
// their own (migration 010 dropped them: every job inserted or changing
// state paid an entry in each): they are checked on each job of the walk,
// so a page of a kind or queue that is rare among the in-flight states'
// jobs reads up to every one of them to fill it. A list with a kind or
// queue filter of every state, of available jobs, or of states that no one
// index holds (store.MergedListStates) reads each state's index instead
// (jobListMerged: for every state, first a walk of the newest IDs,
// store.MergedProbe; then tiers bounded by the page's reach,
// jobListMergeQuery): final states, kiln_job_finished's entries, the
// filter checked on each; in-flight states, kiln_job_state_inflight's;
// available jobs, the filters' ranges of kiln_job_claim_untagged and
// kiln_job_claim_fair, sorted,
// when a bounded count finds them few, else the table (availableWalkFor). Counts per
// queue and state come from the counters (JobCountByState, QueueList),
// never from lists. With params.Tag the walk follows kiln_job_tag's
// entries of that tag in ID order, so a rare tag reads only its own jobs.
// params.ArgsContains is matched with instr() on the args as stored,
// reading each job of the range that passes the other filters.
func (s *Store) JobList(ctx context.Context, params *store.JobListParams) ([]*kilntype.JobRow, error) {
	if states := store.MergedListStates(params); states != nil {
		return s.jobListMerged(ctx, params, states)
	}
	walk, err := s.listWalk(ctx, params)
	if err != nil {
		return nil, err
	}
	query, args, ok := jobListQuery(params, walk)
	if !ok {
		return []*kilntype.JobRow{}, nil
	}
	return s.listRows(ctx, query, args, params.ArgsPreview)
}

// sqlListNewest and sqlListOldest return the newest and the oldest job's
// ID (0 without jobs): an end of the table (one min or max per
// statement, which SQLite reads from the end of the table).
const (
	sqlListNewest = `SELECT coalesce(max(id), 0) FROM kiln_job`
	sqlListOldest = `SELECT coalesce(min(id), 0) FROM kiln_job`
)

// jobListMerged is JobList for a list that store.MergedListStates merges
// (of states): first, for every state, the walk of the table over the
// window store.MergedProbe gives, whose page is the list's when full; else
// the merged statement (jobListMergeQuery).
func (s *Store) jobListMerged(ctx context.Context, params *store.JobListParams, states []kilntype.JobState) ([]*kilntype.JobRow, error) {
	if params.States == nil {
		end := sqlListNewest
		if params.OrderAsc {
			end = sqlListOldest
		}
		var top int64
		if err := s.r.QueryRowContext(ctx, end).Scan(&top); err != nil {
			return nil, fail("list jobs", err)
		}
		if probe := store.MergedProbe(params, top); probe != nil {
			query, args, _ := jobListQuery(probe, walkTable)
			jobs, err := s.listRows(ctx, query, args, params.ArgsPreview)
			if err != nil || len(jobs) == listLimit(params.Limit) {
				return jobs, err
			}
		}
	}
	available := store.AvailableNone
	if slices.Contains(states, kilntype.JobStateAvailable) {
		var err error
		if available, err = s.availableWalkFor(ctx, params); err != nil {
			return nil, err
		}
	}
	query, args, ok := jobListMergeQuery(params, states, available)
	if !ok {
		return []*kilntype.JobRow{}, nil
	}
	return s.listRows(ctx, query, args, params.ArgsPreview)
}

// listRows runs a JobList statement on the reader pool and reads its jobs
// (preview: the params' ArgsPreview).
func (s *Store) listRows(ctx context.Context, query string, args []any, preview int) ([]*kilntype.JobRow, error) {
	if preview <= 0 {
		jobs, err := scanJobs(s.r.QueryContext(ctx, query, args...))
		if err != nil {
			return nil, fail("list jobs", err)
		}
		return jobs, nil
	}
	jobs, err := scanPreviewJobs(s.r.QueryContext(ctx, query, args...))
	if err != nil {
		return nil, fail("list jobs", err)
	}
	for _, j := range jobs {
		store.PreviewArgs(j.JobRow, j.argsBytes, preview)
	}
	return rows(jobs), nil
}

// previewJob is a row of a JobList with ArgsPreview: the job with the
// beginning of its args, and their full length.
type previewJob struct {
	*kilntype.JobRow
	argsBytes int64
}

// scanPreviewJobs reads the rows of a JobList with ArgsPreview: jobColumns
// with args cut, then octet_length(args).
func scanPreviewJobs(rs *sql.Rows, err error) ([]previewJob, error) {
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var jobs []previewJob
	for rs.Next() {
		var p previewJob
		if p.JobRow, err = scanJob(rs, &p.argsBytes); err != nil {
			return nil, err
		}
		jobs = append(jobs, p)
	}
	return jobs, rs.Err()
}

// rows returns the jobs of ps.
func rows(ps []previewJob) []*kilntype.JobRow {
	jobs := make([]*kilntype.JobRow, len(ps))
	for i, p := range ps {
		jobs[i] = p.JobRow
	}
	return jobs
}

// A listWalk is how JobList reads the jobs in ID order: the table's
// clause that names the index (or none) and the term that repeats its
// predicate, so that SQLite may use it; or a subquery read in place of
// the table.
type listWalk struct {
	indexed string // "INDEXED BY x", "NOT INDEXED" or ""
	term    string // the index's predicate, or ""
	table   string // a subquery named kiln_job read in place of the table, or ""
}

// from returns the table expression that w reads.
func (w listWalk) from() string {
	switch {
	case w.table != "":
		return w.table
	case w.indexed != "":
		return "kiln_job " + w.indexed
	}
	return "kiln_job"
}

var (
	// walkTable reads the table in rowid (ID) order.
	walkTable = listWalk{indexed: "NOT INDEXED"}
	// walkInflight reads kiln_job_state_inflight (state, id).
	walkInflight = listWalk{indexed: "INDEXED BY kiln_job_state_inflight", term: sqlInflightPredicate}
	// walkAvailable and walkFinalized read indexes whose order is not
	// the ID's: JobList sorts what it reads. walkAvailable reads the two
	// that hold the available jobs between them (untaggedPredicate), as
	// one subquery whose arms take the statement's terms (SQLite pushes
	// them down into each arm).
	walkAvailable = listWalk{table: sqlAvailableJobs}
	walkFinalized = listWalk{indexed: "INDEXED BY kiln_job_finalized_kind", term: "finalized_at IS NOT NULL"}
	// walkFinished reads kiln_job_finished (state, id, kind, queue) in ID
	// order: the jobs of one final state, a kind or queue checked on the
	// entry.
	walkFinished = listWalk{indexed: "INDEXED BY kiln_job_finished", term: "finalized_at IS NOT NULL"}
)

// sqlAvailableJobs is walkAvailable's table: the available jobs, from
// kiln_job_claim_untagged and kiln_job_claim_fair, named kiln_job.
const sqlAvailableJobs = `(SELECT * FROM ` + sqlClaimUntagged + ` WHERE ` + untaggedPredicate + `
	UNION ALL SELECT * FROM ` + sqlClaimFair + ` WHERE ` + fairPredicate + `) AS kiln_job`

// sqlInflightPredicate names kiln_job_state_inflight's predicate (migration
// 015: state IN ('running', 'scheduled', 'retryable', 'pending')) in every
// statement that reads that index, so that SQLite may use it (a partial
// index serves a statement whose WHERE implies the index's).
//
// It is written as comparisons, not as the index's IN list, so that the
// statements keep working when a later migration rewrites the predicate as
// comparisons (SQLite runs an IN list of more than two values in an
// index's WHERE by building a temporary b-tree for every row written:
// docs/benchmarks.md, "SQLite writer per job"). SQLite plans an OR of
// equalities of one column as an IN term, which implies the predicate in
// either form; an IN list implies only the same IN list.
const sqlInflightPredicate = `(state = 'running' OR state = 'scheduled' OR state = 'retryable' OR state = 'pending')`

// listWalk chooses how JobList reads the jobs of params. In-flight states
// and one final state have an index in ID order, which it reads. For the
// others, walking the table newest first reads about Limit × all jobs ÷
// listed jobs rows to fill a page; reading the listed states' index and
// sorting reads every listed job: the index is the cheaper when listed² <
// Limit × all, as the counters (JobCountByState) tell, which cost a few
// rows to read.
func (s *Store) listWalk(ctx context.Context, params *store.JobListParams) (listWalk, error) {
	switch {
	case params.Tag != "" || params.States == nil:
		return listWalk{}, nil
	case store.InflightStates(params.States):
		return walkInflight, nil
	case len(params.States) == 1 && store.FinalStates(params.States):
		if len(params.Kinds) == 0 {
			// In ID order, only that state's jobs: never more rows than
			// the table's walk, whatever the counters say.
			return walkFinished, nil
		}
		return s.finishedKindsWalk(ctx, params)
	}
	index := walkTable
	for _, st := range params.States {
		w := walkTable
		switch st {
		case kilntype.JobStateAvailable:
			w = walkAvailable
		case kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded:
			w = walkFinalized
		}
		if w == walkTable || (index != walkTable && index != w) {
			return walkTable, nil // states of different indexes
		}
		index = w
	}
	counts, err := s.JobCountByState(ctx)
	if err != nil {
		return walkTable, err
	}
	var listed, all int
	for st, n := range counts {
		all += n
		if slices.Contains(params.States, st) {
			listed += n
		}
	}
	if listed*listed < listLimit(params.Limit)*all {
		return index, nil
	}
	return walkTable, nil
}

// sqlFinishedKindCount counts, up to ?3, the jobs of state ?1 and the kinds
// of the JSON array ?2 in kiln_job_finalized_kind (a covering read of its
// ranges).
const sqlFinishedKindCount = `SELECT count(*) FROM (SELECT 1 FROM kiln_job INDEXED BY kiln_job_finalized_kind
WHERE state = ?1 AND kind IN (SELECT value FROM json_each(?2)) AND finalized_at IS NOT NULL LIMIT ?3)`

// finishedKindsWalk chooses how JobList reads the jobs of one final state
// and some kinds: kiln_job_finished in ID order, checking the kind on each
// entry of the state until a page is full, reads about Limit × the
// state's jobs ÷ those of the kinds entries; kiln_job_finalized_kind's
// ranges of the kinds, sorted, read the jobs of the kinds, each with its
// row. It counts the latter up to a bound, sqrt(Limit × the state's jobs ÷
// 4) (each sorted job costs about four walked entries), and reads and
// sorts them when they are no more: a page then costs at most about
// twice the bound's entries either way (on 1,000,000 jobs, 792,000 of
// them completed, a page of completed jobs of a kind of 0.1 % walked
// 51,000 entries, 18-35 ms; it sorts 792 jobs instead).
func (s *Store) finishedKindsWalk(ctx context.Context, params *store.JobListParams) (listWalk, error) {
	counts, err := s.JobCountByState(ctx)
	if err != nil {
		return walkFinished, err
	}
	limit := listLimit(params.Limit)
	bound := max(int(math.Sqrt(float64(limit)*float64(counts[params.States[0]])/4)), limit)
	kinds, err := jsonStrings(params.Kinds)
	if err != nil {
		return walkFinished, err
	}
	var n int
	if err := s.r.QueryRowContext(ctx, sqlFinishedKindCount, string(params.States[0]), kinds, bound+1).Scan(&n); err != nil {
		return walkFinished, fail("list jobs", err)
	}
	if n <= bound {
		return walkFinalized, nil
	}
	return walkFinished, nil
}

// jobListQuery returns JobList's statement for params and its arguments,
// or false when an empty filter matches nothing. walk names the index
// (see listWalk).
func jobListQuery(params *store.JobListParams, walk listWalk) (string, []any, bool) {
	from, id, where, args, ok := jobListWhere(params, walk)
	if !ok {
		return "", nil, false
	}
	order := "DESC"
	if params.OrderAsc {
		order = "ASC"
	}
	columns := jobColumns
	if params.ArgsPreview > 0 {
		// substr reads characters: at most ArgsPreview*4 bytes, which
		// PreviewArgs cuts to ArgsPreview. octet_length reads the length
		// without the text.
		columns = strings.Replace(columns, "args,", "substr(args, 1, ?),", 1) + ", octet_length(args)"
		args = append([]any{params.ArgsPreview}, args...)
	}
	query := `SELECT ` + columns + ` FROM ` + from
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY ` + id + ` ` + order + ` LIMIT ?`
	return query, append(args, listLimit(params.Limit)), true
}

// jobListWhere returns the table expression JobList walks for params, the
// column its pages are ordered and bounded by, and the conditions of
// params' filters, cursor and stop with their arguments; false when an
// empty filter matches nothing. walk names the index that JobList reads
// (listWalk{}: SQLite's choice). Bulk batches and counts walk the same.
func jobListWhere(params *store.JobListParams, walk listWalk) (from, id string, where []string, args []any, ok bool) {
	states := make([]string, len(params.States))
	for i, st := range params.States {
		states[i] = string(st)
	}
	for _, f := range []struct {
		column string
		values []string
		isNil  bool
	}{
		{"state", states, params.States == nil},
		{"kind", params.Kinds, params.Kinds == nil},
		{"queue", params.Queues, params.Queues == nil},
	} {
		switch {
		case f.isNil:
		case len(f.values) == 0:
			return "", "", nil, nil, false
		default:
			where = append(where, f.column+" IN ("+placeholders(len(f.values))+")")
			for _, v := range f.values {
				args = append(args, v)
			}
		}
	}
	if walk.term != "" {
		where = append(where, walk.term)
	}
	// id is the column pages are ordered and bounded by: the tag index's
	// when it drives the walk, so that SQLite reads that index in order.
	from, id = walk.from(), "id"
	if params.Tag != "" {
		from, id = `kiln_job_tag AS t CROSS JOIN kiln_job ON kiln_job.id = t.job_id`, "t.job_id"
		where = append(where, "t.tag = ?")
		args = append(args, params.Tag)
	}
	if params.ArgsContains != "" {
		where = append(where, "instr(args, ?) > 0")
		args = append(args, params.ArgsContains)
	}
	if !params.CreatedFrom.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, micros(params.CreatedFrom))
	}
	if !params.CreatedBefore.IsZero() {
		where = append(where, "created_at < ?")
		args = append(args, micros(params.CreatedBefore))
	}
	after, until := " < ?", " >= ?"
	if params.OrderAsc {
		after, until = " > ?", " <= ?"
	}
	if params.Cursor != 0 {
		where = append(where, id+after)
		args = append(args, params.Cursor)
	}
	if params.StopAt != 0 {
		where = append(where, id+until)
		args = append(args, params.StopAt)
	}
	return from, id, where, args, true
}

// placeholders returns n comma-separated '?'.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// sqlJobCountByState sums the counters of every queue by state
// (kiln_job_count, migration 007): a scan of a table with a row per queue
// and state.
const sqlJobCountByState = `SELECT state, sum(jobs) FROM kiln_job_count
GROUP BY state HAVING sum(jobs) <> 0`

// JobCountByState returns how many jobs are in each state; states without
// jobs are absent. It sums the counters that triggers keep in the
// transaction of every change to a job (see JobCountByQueueState), from the
// reader pool: its cost grows with the queues, not with the jobs.
func (s *Store) JobCountByState(ctx context.Context) (map[kilntype.JobState]int, error) {
	rows, err := s.r.QueryContext(ctx, sqlJobCountByState)
	if err != nil {
		return nil, fail("count jobs", err)
	}
	defer rows.Close()
	counts := make(map[kilntype.JobState]int)
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fail("count jobs", err)
		}
		counts[kilntype.JobState(state)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fail("count jobs", err)
	}
	return counts, nil
}

// JobAttemptList returns the attempts of job jobID, oldest first; an unknown
// job gives an empty list. It reads from the reader pool.
func (s *Store) JobAttemptList(ctx context.Context, params *store.JobAttemptListParams) ([]*kilntype.JobAttempt, error) {
	jobID := params.JobID
	// The rows, then the successful attempt a completed job's row keeps.
	rows, err := s.r.QueryContext(ctx, `SELECT `+attemptColumns+` FROM (
		SELECT 0 AS src, id AS ord, `+attemptColumns+` FROM kiln_job_attempt WHERE job_id = ?1
		UNION ALL
		SELECT 1, 0, id, attempt, attempted_at, finalized_at, attempted_by, 'succeeded', '', ''
		FROM kiln_job WHERE id = ?1 AND state = 'completed' AND attempted_by IS NOT NULL
	) ORDER BY src, ord`, jobID)
	if err != nil {
		return nil, fail(fmt.Sprintf("list attempts of job %d", jobID), err)
	}
	defer rows.Close()
	attempts := []*kilntype.JobAttempt{}
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fail(fmt.Sprintf("list attempts of job %d", jobID), err)
		}
		attempts = append(attempts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(fmt.Sprintf("list attempts of job %d", jobID), err)
	}
	return attempts, nil
}
