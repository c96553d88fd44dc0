package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlAvailableQueues lists, in a WITH RECURSIVE, the queues that have
// available jobs, by a loose index scan of kiln_job_claim_kind (queue,
// kind, ...): one seek per queue for its first entry after the previous
// queue, and one more that finds none (a row of NULL, which readers skip).
const sqlAvailableQueues = `available_queues(queue) AS (
	(SELECT queue FROM {s}.kiln_job WHERE state = 'available' ORDER BY queue LIMIT 1)
	UNION ALL
	SELECT (SELECT queue FROM {s}.kiln_job
		WHERE state = 'available' AND queue > available_queues.queue ORDER BY queue LIMIT 1)
	FROM available_queues WHERE available_queues.queue IS NOT NULL
)`

// availableQueueTerm is the term that names the queues of
// sqlAvailableQueues, so that a read of available jobs of some kinds and
// no queue filter reads kiln_job_claim_kind's (queue, kind) ranges, one
// per queue, instead of every available job's entry.
const availableQueueTerm = `queue = ANY(ARRAY(SELECT queue FROM available_queues WHERE queue IS NOT NULL))`

// availableWalkFor chooses how a merged JobList of params reads the
// available jobs (store.ChooseAvailableWalk), counting those of the
// filters' kinds and queues in kiln_job_claim_kind (availableCountQuery)
// when it needs to; on q, the list's own connection or transaction.
func (s *Store) availableWalkFor(ctx context.Context, q querier, params *store.JobListParams) (store.AvailableWalk, error) {
	counts, err := s.JobCountByQueueState(ctx)
	if err != nil {
		return store.AvailableNone, err
	}
	return store.ChooseAvailableWalk(counts, params, listLimit(params.Limit), func(limit int) (n int, err error) {
		query, args := availableCountQuery(params, limit)
		if err := q.QueryRow(ctx, s.sql(query), args...).Scan(&n); err != nil {
			return 0, fail("list jobs", err)
		}
		return n, nil
	})
}

// availableCountQuery returns the statement that counts, up to stop, the
// available jobs of params' kinds and queues (a covering read of
// kiln_job_claim_kind's ranges), and its arguments.
func availableCountQuery(params *store.JobListParams, stop int) (string, []any) {
	_, _, where, args, _ := jobListWhere(&store.JobListParams{Kinds: params.Kinds, Queues: params.Queues})
	with := ""
	if params.Queues == nil {
		with, where = `WITH RECURSIVE `+sqlAvailableQueues+"\n", append(where, availableQueueTerm)
	}
	return with + `SELECT count(*) FROM (SELECT FROM {s}.kiln_job WHERE state = 'available' AND ` +
		strings.Join(where, " AND ") + ` LIMIT ` + strconv.Itoa(stop) + `) AS c`, args
}

// jobListMergeQuery returns the statement of a merged JobList (see
// store.MergedListStates) of states, and its arguments; false when
// nothing can match. It reads the states in three tiers, each a CTE of at
// most a page of IDs in the page's order: the available jobs (the IDs of
// kiln_job_claim_kind's ranges of the filters, sorted; or the primary key
// in ID order, each row checked: as available says); then those IDs with
// each final state's, from kiln_job_finished (the kind and queue index
// conditions); then those with each in-flight state's, from
// kiln_job_state_waiting (scheduled, retryable, pending) or, for running
// jobs, all of kiln_job_running's entries (as many as jobs run), each
// entry's row checked. Each tier's arms
// read only up to the reach of the tiers before (when they filled a
// page, the ID of its last job: no job past it can be on the page), so an
// arm that meets no job of the filters stops there instead of reading
// its state's every entry or row. The page's jobs are then read by ID.
// The states are constants, so that a generic plan proves the partial
// indexes' predicates as a custom plan does.
func jobListMergeQuery(params *store.JobListParams, states []kilntype.JobState, available store.AvailableWalk) (string, []any, bool) {
	// The filters, then the range of IDs (cursor and stop), apart: the
	// sorted available jobs take the range after their read of
	// kiln_job_claim_kind, so that no plan walks the primary key's range
	// for them.
	p := *params
	p.States, p.Cursor, p.StopAt = nil, 0, 0
	_, _, where, args, ok := jobListWhere(&p)
	if !ok {
		return "", nil, false
	}
	order, reachOf, after, until := "DESC", `CASE WHEN count(*) < %[1]s THEN 0 ELSE min(id) END`, " < ", " >= "
	if params.OrderAsc {
		order, reachOf, after, until = "ASC", `CASE WHEN count(*) < %[1]s THEN 9223372036854775807 ELSE max(id) END`, " > ", " <= "
	}
	var span []string
	if params.Cursor != 0 {
		args = append(args, params.Cursor)
		span = append(span, "id"+after+"$"+strconv.Itoa(len(args)))
	}
	if params.StopAt != 0 {
		args = append(args, params.StopAt)
		span = append(span, "id"+until+"$"+strconv.Itoa(len(args)))
	}
	limit := strconv.Itoa(listLimit(params.Limit))
	filters, inSpan := "", ""
	if len(where) > 0 {
		filters = " AND " + strings.Join(where, " AND ")
	}
	if len(span) > 0 {
		inSpan = " AND " + strings.Join(span, " AND ")
	}
	and := filters + inSpan
	cmp := " >= "
	if params.OrderAsc {
		cmp = " <= "
	}
	// Each tier's arms, as functions of the reach of the tiers before
	// ("": none).
	var with []string
	tiers := make([][]func(reach string) string, 3)
	for _, st := range states {
		switch {
		case st == kilntype.JobStateAvailable && available == store.AvailableNone:
		case st == kilntype.JobStateAvailable && available == store.AvailableSorted:
			// Materialized, without an order of its own: the planner
			// reads the entries of claim_kind's ranges and the arm
			// sorts their IDs, whatever its estimate of the kinds' jobs
			// (a generic plan's is a tenth of the available jobs),
			// instead of walking the primary key.
			queue := ""
			if params.Queues == nil {
				with = append(with, sqlAvailableQueues)
				queue = " AND " + availableQueueTerm
			}
			with = append(with, `available AS MATERIALIZED (SELECT id FROM {s}.kiln_job WHERE state = 'available'`+queue+filters+`)`)
			tiers[0] = append(tiers[0], func(string) string {
				return `(SELECT id FROM available WHERE true` + inSpan + ` ORDER BY id ` + order + ` LIMIT ` + limit + `)`
			})
		case st == kilntype.JobStateAvailable:
			tiers[0] = append(tiers[0], func(string) string {
				return `(SELECT id FROM {s}.kiln_job WHERE state = 'available'` + and + ` ORDER BY id ` + order + ` LIMIT ` + limit + `)`
			})
		case st.Finalized():
			tiers[1] = append(tiers[1], func(reach string) string {
				if reach != "" {
					reach = ` AND id` + cmp + reach
				}
				// Ordered by (state, id), which only the state's index
				// gives (the state a constant array, as in
				// jobListWhere): ordered by the ID alone, with the reach
				// a parameter, a generic plan walked the primary key's
				// range (TestMergedPagePlans).
				return `(SELECT id FROM {s}.kiln_job WHERE state = ANY('{` + string(st) + `}'::text[])` + and + reach +
					` ORDER BY state ` + order + `, id ` + order + ` LIMIT ` + limit + `)`
			})
		default:
			tiers[2] = append(tiers[2], func(reach string) string {
				head := `(SELECT id FROM {s}.kiln_job WHERE state = ANY('{` + string(st) + `}'::text[])` + and
				switch {
				case reach == "":
					return head + ` ORDER BY state ` + order + `, id ` + order + ` LIMIT ` + limit + `)`
				case params.OrderAsc:
					return head + ` AND (state, id) <= ('` + string(st) + `', ` + reach + `) ORDER BY state, id LIMIT ` + limit + `)`
				}
				// Newest first: the state's entries from the reach up,
				// in index order (a row comparison, which starts the
				// scan in kiln_job_state_waiting and which the primary
				// key cannot serve; running jobs are read whole from
				// kiln_job_running and sorted), every one of the range, the tier
				// sorting them. With the reach as id >= (...), the
				// planner, which prices a range of the primary key as
				// nearly sequential rows, read the range's every job (on
				// 1,000,000 jobs, 51,000 rows for 2,550 scheduled ones);
				// and a row comparison ends no backward scan in
				// PostgreSQL 15 (it read the state's every entry).
				return head + ` AND (state, id) >= ('` + string(st) + `', ` + reach + `) ORDER BY state, id)`
			})
		}
	}
	last := ""
	for i, tier := range tiers {
		if len(tier) == 0 {
			continue
		}
		var arms []string
		reach := ""
		if last != "" {
			arms = append(arms, `(SELECT id FROM `+last+`)`)
			reach = `(SELECT ` + fmt.Sprintf(reachOf, limit) + ` FROM ` + last + `)`
		}
		for _, arm := range tier {
			arms = append(arms, arm(reach))
		}
		last = "tier" + strconv.Itoa(i+1)
		with = append(with, last+` AS MATERIALIZED (SELECT id FROM (
	`+strings.Join(arms, "\n\tUNION ALL ")+`
	) AS m ORDER BY id `+order+` LIMIT `+limit+`)`)
	}
	if last == "" {
		return "", nil, false
	}
	return `WITH RECURSIVE ` + strings.Join(with, ",\n") + `
SELECT ` + jobColumns + ` FROM {s}.kiln_job WHERE id = ANY(ARRAY(SELECT id FROM ` + last + `))
ORDER BY id ` + order + ` LIMIT ` + limit, args, true
}
