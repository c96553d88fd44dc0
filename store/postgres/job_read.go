package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlGetJob returns one job.
const sqlGetJob = `SELECT ` + jobColumns + ` FROM {s}.kiln_job WHERE id = $1`

// JobGet returns the job id, or a wrapped kilntype.ErrNotFound.
func (s *Store) JobGet(ctx context.Context, params *store.JobGetParams) (*kilntype.JobRow, error) {
	id := params.ID
	var output []byte
	job, err := scanJob(extraRow{s.pool.QueryRow(ctx, s.sql(sqlGetJobOutput), id), []any{&output}})
	if err == nil && output != nil {
		job.Output = output
	}
	if isNoRows(err) {
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
// empty, non-nil filter matches nothing.
//
// The walk follows an index in ID order: kiln_job_state_waiting's
// entries of the states asked for when they are all scheduled, retryable
// or pending (migration 032; kiln_job_state_inflight's, with the running
// jobs, before), kiln_job_finished's (state, id,
// kind, queue) when they are all completed, cancelled or discarded
// (migration 027), or else the primary key. A filter of one value is an
// equality, so that a page of one state reads its index's entries newest
// first without a sort, and a kind or queue filter is checked on
// kiln_job_finished's entries, reading from the table only the jobs
// listed (docs/benchmarks.md, "Dashboard pages at 1,000,000 jobs"). Each
// list of states that an index covers also names the index's predicate
// as a constant, so that a generic plan (whose states are a parameter)
// can use it. Available jobs have no index in ID order: a page of
// available jobs walks the primary key, or, when the planner's statistics
// say they are few, reads kiln_job_claim_kind and sorts. Outside
// kiln_job_finished, the kind and queue filters have no index of their
// own (migration 010 dropped them: every job inserted or changing state
// paid an entry in each): they are checked on each job of the walk, so a
// page of a kind or queue that is rare among an in-flight state's jobs
// reads up to every one of them, one heap row each. Running jobs have no
// index in ID order: kiln_job_running holds them by kind and key (the
// per-key counts of claims read it), and a page of running jobs reads all
// of its entries and sorts them (running jobs are few: at most the
// workers of the processes sharing the database). A list with a kind or
// queue filter of every state, of available jobs, or of states that no
// one index holds (store.MergedListStates) reads each state's index
// instead (jobListMerged: for every state, first a walk of the newest
// IDs, store.MergedProbe; then tiers bounded by the page's reach,
// jobListMergeQuery): final states, kiln_job_finished's entries, the
// filter checked on each; in-flight states, kiln_job_state_waiting's or
// kiln_job_running's;
// available jobs, the filters' ranges of kiln_job_claim_kind, sorted,
// when a bounded count finds them few, else the primary key
// (availableWalkFor). Counts per queue and state come from the counters
// (JobCountByState, QueueList), never from lists. With params.Tag the
// walk follows kiln_job_tag's entries of that tag in ID order, so a rare
// tag reads only its own jobs. params.ArgsContains is matched with
// strpos() on args::text, reading each job of the range that passes the
// other filters.
func (s *Store) JobList(ctx context.Context, params *store.JobListParams) ([]*kilntype.JobRow, error) {
	return s.jobList(ctx, s.pool, params)
}

// JobListTx does what JobList does in tx, a transaction of the caller's on
// the Store's database: it sees the jobs tx inserted (JobInsertManyTx)
// before tx commits. It neither commits nor rolls back tx.
func (s *Store) JobListTx(ctx context.Context, tx pgx.Tx, params *store.JobListParams) ([]*kilntype.JobRow, error) {
	return s.jobList(ctx, tx, params)
}

// jobList is JobList with q.
func (s *Store) jobList(ctx context.Context, q querier, params *store.JobListParams) ([]*kilntype.JobRow, error) {
	if states := store.MergedListStates(params); states != nil {
		return s.jobListMerged(ctx, q, params, states)
	}
	query, args, ok := jobListQuery(params)
	if !ok {
		return []*kilntype.JobRow{}, nil
	}
	return s.listRows(ctx, q, query, args, params.ArgsPreview)
}

// sqlListNewest and sqlListOldest return the newest and the oldest job's
// ID (0 without jobs): an end of the primary key (one min or max per
// statement, which SQLite reads from the end of the table).
const (
	sqlListNewest = `SELECT coalesce(max(id), 0) FROM {s}.kiln_job`
	sqlListOldest = `SELECT coalesce(min(id), 0) FROM {s}.kiln_job`
)

// jobListMerged is jobList for a list that store.MergedListStates merges
// (of states): first, for every state, the plain walk of the window
// store.MergedProbe gives, whose page is the list's when full; else the
// merged statement (jobListMergeQuery).
func (s *Store) jobListMerged(ctx context.Context, q querier, params *store.JobListParams, states []kilntype.JobState) ([]*kilntype.JobRow, error) {
	if params.States == nil {
		end := sqlListNewest
		if params.OrderAsc {
			end = sqlListOldest
		}
		var top int64
		if err := q.QueryRow(ctx, s.sql(end)).Scan(&top); err != nil {
			return nil, fail("list jobs", err)
		}
		if probe := store.MergedProbe(params, top); probe != nil {
			query, args, _ := jobListQuery(probe)
			jobs, err := s.listRows(ctx, q, query, args, params.ArgsPreview)
			if err != nil || len(jobs) == listLimit(params.Limit) {
				return jobs, err
			}
		}
	}
	available := store.AvailableNone
	if slices.Contains(states, kilntype.JobStateAvailable) {
		var err error
		if available, err = s.availableWalkFor(ctx, q, params); err != nil {
			return nil, err
		}
	}
	query, args, ok := jobListMergeQuery(params, states, available)
	if !ok {
		return []*kilntype.JobRow{}, nil
	}
	query, args = withArgsPreview(query, args, params.ArgsPreview, `id `+listOrder(params))
	return s.listRows(ctx, q, query, args, params.ArgsPreview)
}

// listRows runs a JobList statement and reads its jobs (preview: the
// params' ArgsPreview).
func (s *Store) listRows(ctx context.Context, q querier, query string, args []any, preview int) ([]*kilntype.JobRow, error) {
	if preview <= 0 {
		jobs, err := scanJobs(q.Query(ctx, s.sql(query), args...))
		if err != nil {
			return nil, fail("list jobs", err)
		}
		return jobs, nil
	}
	rows, err := q.Query(ctx, s.sql(query), args...)
	if err != nil {
		return nil, fail("list jobs", err)
	}
	jobs, err := scanPreviewJobs(rows, preview)
	if err != nil {
		return nil, fail("list jobs", err)
	}
	return jobs, nil
}

// scanPreviewJobs reads the rows of a JobList with ArgsPreview (jobColumns
// with args cut, then their full length) and applies store.PreviewArgs.
func scanPreviewJobs(rows pgx.Rows, preview int) ([]*kilntype.JobRow, error) {
	defer rows.Close()
	jobs := []*kilntype.JobRow{}
	sc := new(jobScanner)
	var argsBytes int64
	for rows.Next() {
		j, err := sc.scan(rows, &argsBytes)
		if err != nil {
			return nil, err
		}
		store.PreviewArgs(j, argsBytes, preview)
		jobs = append(jobs, j)
	}
	return jobs, rows.Err()
}

// jobListQuery returns JobList's statement for params and its arguments,
// or false when an empty filter matches nothing.
func jobListQuery(params *store.JobListParams) (string, []any, bool) {
	from, id, where, args, ok := jobListWhere(params)
	if !ok {
		return "", nil, false
	}
	order := listOrder(params)
	query := `SELECT ` + jobColumns + ` FROM ` + from
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	// outer orders the page's rows as the walk did, by the columns of
	// kiln_job (the tag's walk orders by t.job_id, the same IDs).
	inner, outer := id+` `+order, `id `+order
	if stateOrdered(params) {
		// The index's order, (state, id): see stateOrdered.
		inner = `state ` + order + `, id ` + order
		outer = inner
	}
	// The limit is a constant too: with a parameter, a generic plan
	// assumes a tenth of the rows and may read a state's whole range and
	// sort it (5,000 scheduled jobs through kiln_job_due: 11 ms).
	query += ` ORDER BY ` + inner + ` LIMIT ` + strconv.Itoa(listLimit(params.Limit))
	query, args = withArgsPreview(query, args, params.ArgsPreview, outer)
	return query, args, true
}

// listOrder is the SQL order of params' pages: "DESC" (newest first) or
// "ASC".
func listOrder(params *store.JobListParams) string {
	if params.OrderAsc {
		return "ASC"
	}
	return "DESC"
}

// withArgsPreview returns query (a JobList statement selecting
// jobColumns) and args so that, with preview above 0, each job's args come
// cut to their first preview characters, followed by their length; the
// rows ordered by outer (the page's order, in kiln_job's columns). With
// preview 0 or less, query and args are returned as they are.
func withArgsPreview(query string, args []any, preview int, outer string) (string, []any) {
	if preview <= 0 {
		return query, args
	}
	// The page's jobs are chosen first, with their args as stored (a
	// TOAST pointer, not read); only then is each one's jsonb turned into
	// text, once (OFFSET 0 keeps the planner from inlining it twice), for
	// its first preview characters and its length. Computed in the inner
	// query, a sort could convert every job that passes the filters.
	args = append(args, preview)
	columns := strings.Replace(jobColumns, "args,", "left(a.args_text, $"+strconv.Itoa(len(args))+"),", 1)
	return `SELECT ` + columns + `, octet_length(a.args_text) FROM (` + query + `) AS kiln_job
			CROSS JOIN LATERAL (SELECT kiln_job.args::text AS args_text OFFSET 0) AS a
			ORDER BY ` + outer, args
}

// jobListWhere returns the table expression JobList walks for params, the
// column its pages are ordered and bounded by, and the conditions of
// params' filters, cursor and stop with their arguments ($1, $2, ...);
// false when an empty filter matches nothing. Bulk batches and counts walk
// the same.
func jobListWhere(params *store.JobListParams) (from, id string, where []string, args []any, ok bool) {
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	states := make([]string, len(params.States))
	literal := len(states) > 0
	for i, st := range params.States {
		states[i] = string(st)
		literal = literal && st.Valid()
	}
	if literal {
		// The states as a constant of the statement, not a parameter: a
		// generic plan then reads the partial index that they imply
		// (kiln_job_state_waiting, kiln_job_running, kiln_job_finished) as a custom plan
		// does, and the planner estimates the rows from the states
		// themselves. Valid states are a fixed set of words: nothing to
		// quote.
		where = append(where, `state = ANY('{`+strings.Join(states, ",")+`}'::text[])`)
	}
	for _, f := range []struct {
		column string
		values []string
		isNil  bool
	}{
		{"state", states, params.States == nil || literal},
		{"kind", params.Kinds, params.Kinds == nil},
		{"queue", params.Queues, params.Queues == nil},
	} {
		switch {
		case f.isNil:
		case len(f.values) == 0:
			return "", "", nil, nil, false
		case len(f.values) == 1:
			// An equality, not = ANY: the planner then checks it on
			// kiln_job_finished's entries (an index condition on its
			// third or fourth column), not on the rows.
			where = append(where, f.column+" = "+arg(f.values[0]))
		default:
			where = append(where, f.column+" = ANY("+arg(f.values)+"::text[])")
		}
	}
	// id is the column pages are ordered and bounded by: the tag index's
	// when it drives the walk.
	from, id = `{s}.kiln_job`, "id"
	if params.Tag != "" {
		from, id = `{s}.kiln_job_tag AS t JOIN {s}.kiln_job ON kiln_job.id = t.job_id`, "t.job_id"
		where = append(where, "t.tag = "+arg(params.Tag))
	}
	if params.ArgsContains != "" {
		where = append(where, "strpos(args::text, "+arg(params.ArgsContains)+") > 0")
	}
	if !params.CreatedFrom.IsZero() {
		where = append(where, "created_at >= "+arg(truncate(params.CreatedFrom)))
	}
	if !params.CreatedBefore.IsZero() {
		where = append(where, "created_at < "+arg(truncate(params.CreatedBefore)))
	}
	after, until := " < ", " >= "
	if params.OrderAsc {
		after, until = " > ", " <= "
	}
	if params.Cursor != 0 {
		where = append(where, id+after+arg(params.Cursor))
	}
	if params.StopAt != 0 {
		where = append(where, id+until+arg(params.StopAt))
	}
	return from, id, where, args, true
}

// stateOrdered reports whether JobList orders the page of params by
// (state, id) rather than by id alone: for one state that an index holds
// in ID order (kiln_job_state_waiting, kiln_job_finished; for running jobs
// kiln_job_running, read whole and sorted), without a tag
// (whose walk orders by the tag's entries). Of one state, the two orders
// are the same; but the primary key cannot give the first, so the planner
// reads the state's index instead of walking the primary key newest first
// through the jobs of every other state, which it would pick when the
// state is common on average but rare among the newest jobs (on
// 1,000,000 jobs, the newest 100,000 in flight: 16-31 ms for a page of
// completed jobs, 0.5 ms through the index). The state filter is then
// the constant = ANY of jobListWhere, which the planner keeps as an index
// condition rather than making state a constant of the statement (an
// equality would, and the order would be the ID's again).
func stateOrdered(params *store.JobListParams) bool {
	return len(params.States) == 1 && params.Tag == "" && params.States[0].Valid() &&
		(store.InflightStates(params.States) || store.FinalStates(params.States))
}

// listLimit applies store.DefaultListLimit and store.MaxListLimit to limit.
func listLimit(limit int) int {
	switch {
	case limit <= 0:
		return store.DefaultListLimit
	case limit > store.MaxListLimit:
		return store.MaxListLimit
	}
	return limit
}

// sqlJobCountByState sums by state the folded totals of every queue and
// the deltas appended since (migration 007), in one snapshot, as
// sqlJobCountByQueueState does by queue and state.
const sqlJobCountByState = `SELECT state, sum(jobs)::bigint FROM (
	SELECT state, jobs FROM {s}.kiln_job_count
	UNION ALL
	SELECT state, jobs FROM {s}.kiln_job_count_delta
) AS c
GROUP BY state HAVING sum(jobs) <> 0`

// JobCountByState returns how many jobs are in each state; states without
// jobs are absent. It sums the counters kept in the transaction of every
// change to a job (see JobCountByQueueState): its cost
// grows with the queues and the deltas not folded yet, not with the jobs.
func (s *Store) JobCountByState(ctx context.Context) (map[kilntype.JobState]int, error) {
	rows, err := s.pool.Query(ctx, s.sql(sqlJobCountByState))
	if err != nil {
		return nil, fail("count jobs", err)
	}
	counts := make(map[kilntype.JobState]int)
	var (
		state string
		n     int
	)
	_, err = pgx.ForEachRow(rows, []any{&state, &n}, func() error {
		counts[kilntype.JobState(state)] = n
		return nil
	})
	if err != nil {
		return nil, fail("count jobs", err)
	}
	return counts, nil
}

// sqlAttemptList returns job $1's attempts, oldest first: its rows in
// kiln_job_attempt, then the successful attempt that a completed job's own
// row records (migration 009).
const sqlAttemptList = `SELECT ` + attemptColumns + ` FROM (
	SELECT 0 AS src, id AS ord, ` + attemptColumns + ` FROM {s}.kiln_job_attempt WHERE job_id = $1
	UNION ALL
	SELECT 1, 0, id, attempt, attempted_at, finalized_at, attempted_by, 'succeeded', '', ''
	FROM {s}.kiln_job WHERE id = $1 AND state = 'completed' AND attempted_by IS NOT NULL
) AS a ORDER BY src, ord`

// JobAttemptList returns the attempts of job jobID, oldest first; an unknown
// job gives an empty list.
func (s *Store) JobAttemptList(ctx context.Context, params *store.JobAttemptListParams) ([]*kilntype.JobAttempt, error) {
	jobID := params.JobID
	what := fmt.Sprintf("list attempts of job %d", jobID)
	rows, err := s.pool.Query(ctx, s.sql(sqlAttemptList), jobID)
	if err != nil {
		return nil, fail(what, err)
	}
	attempts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*kilntype.JobAttempt, error) {
		return scanAttempt(row)
	})
	if err != nil {
		return nil, fail(what, err)
	}
	if attempts == nil {
		attempts = []*kilntype.JobAttempt{}
	}
	return attempts, nil
}

// sqlListCancelRequested returns the running jobs leased by $1 with a
// cancel request, from the partial index kiln_job_cancel_requested: the
// running jobs of every process with a request, in ID order (migration
// 028 keyed it by id, so that no index names leased_by), whose leased_by
// is checked on the row.
const sqlListCancelRequested = `SELECT id FROM {s}.kiln_job
WHERE state = 'running' AND cancel_requested_at IS NOT NULL AND leased_by = $1
ORDER BY id`

// JobListCancelRequested returns the IDs of the running jobs leased by
// leasedBy that have a cancel request, in ID order.
func (s *Store) JobListCancelRequested(ctx context.Context, params *store.JobListCancelRequestedParams) ([]int64, error) {
	leasedBy := params.LeasedBy
	rows, err := s.pool.Query(ctx, s.sql(sqlListCancelRequested), leasedBy)
	if err != nil {
		return nil, fail("list cancel requests", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fail("list cancel requests", err)
	}
	if ids == nil {
		ids = []int64{}
	}
	return ids, nil
}
