package sqlite

import (
	"context"
	"strconv"
	"strings"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlAvailableQueues lists, in a WITH RECURSIVE, the queues that have
// available jobs, by loose index scans of kiln_job_claim_untagged and of
// kiln_job_claim_fair (queue, kind, ...), which hold the available jobs
// between them (untaggedPredicate): one seek per queue of each for its
// first entry after the previous queue, and one more that finds none (a
// row of NULL, which IN skips). A queue with jobs in both is named twice,
// which IN does not mind: a UNION would sort them.
const sqlAvailableQueues = `available_untagged(queue) AS (
	SELECT (SELECT queue FROM ` + sqlClaimUntagged + `
		WHERE ` + untaggedPredicate + ` ORDER BY queue LIMIT 1)
	UNION ALL
	SELECT (SELECT queue FROM ` + sqlClaimUntagged + `
		WHERE ` + untaggedPredicate + ` AND queue > available_untagged.queue ORDER BY queue LIMIT 1)
	FROM available_untagged WHERE available_untagged.queue IS NOT NULL
),
available_fair(queue) AS (
	SELECT (SELECT queue FROM ` + sqlClaimFair + `
		WHERE ` + fairPredicate + ` ORDER BY queue LIMIT 1)
	UNION ALL
	SELECT (SELECT queue FROM ` + sqlClaimFair + `
		WHERE ` + fairPredicate + ` AND queue > available_fair.queue ORDER BY queue LIMIT 1)
	FROM available_fair WHERE available_fair.queue IS NOT NULL
),
available_queues(queue) AS (
	SELECT queue FROM available_untagged UNION ALL SELECT queue FROM available_fair
)`

// availableQueueTerm names the queues of sqlAvailableQueues, so that a
// read of the available jobs of some kinds and no queue filter reads
// kiln_job_claim_untagged's and kiln_job_claim_fair's (queue, kind)
// ranges, one per queue, instead of every available job's entry.
const availableQueueTerm = `queue IN (SELECT queue FROM available_queues)`

// availableWalkFor chooses how a merged JobList of params reads the
// available jobs (store.ChooseAvailableWalk), counting those of the
// filters' kinds and queues in kiln_job_claim_untagged and
// kiln_job_claim_fair (walkAvailable) when it needs to.
func (s *Store) availableWalkFor(ctx context.Context, params *store.JobListParams) (store.AvailableWalk, error) {
	counts, err := s.JobCountByQueueState(ctx)
	if err != nil {
		return store.AvailableNone, err
	}
	return store.ChooseAvailableWalk(counts, params, listLimit(params.Limit), func(limit int) (n int, err error) {
		_, _, where, args, _ := jobListWhere(&store.JobListParams{Kinds: params.Kinds, Queues: params.Queues}, listWalk{})
		with := ""
		if params.Queues == nil {
			with, where = `WITH RECURSIVE `+sqlAvailableQueues+"\n", append(where, availableQueueTerm)
		}
		query := with + `SELECT count(*) FROM (SELECT 1 FROM ` + walkAvailable.from() + ` WHERE state = 'available' AND ` +
			strings.Join(where, " AND ") + ` LIMIT ?)`
		if err := s.r.QueryRowContext(ctx, query, append(args, limit)...).Scan(&n); err != nil {
			return 0, fail("list jobs", err)
		}
		return n, nil
	})
}

// jobListMergeQuery returns the statement of a merged JobList (see
// store.MergedListStates) of states, and its arguments; false when
// nothing can match. It reads the states in three tiers, each a
// materialized CTE of at most a page of IDs in the page's order, each a
// compound SELECT merged in ID order (SQLite runs each arm as a
// co-routine and reads it only as far as the tier's page reaches): the
// available jobs (kiln_job_claim_untagged's and kiln_job_claim_fair's
// ranges of the filters, sorted;
// or the table in ID order, each row checked: as available says); then
// those IDs with each final state's, from kiln_job_finished (a kind or
// queue checked on the entry); then those with each in-flight state's,
// from kiln_job_state_inflight, each entry's row checked. Each tier's
// arms read only up to the reach of the tiers before (when they filled a
// page, the ID of its last job: no job past it can be on the page), so an
// arm that meets no job of the filters stops there instead of reading its
// state's every entry. The page's jobs are then read by ID.
func jobListMergeQuery(params *store.JobListParams, states []kilntype.JobState, available store.AvailableWalk) (string, []any, bool) {
	p := *params
	p.States = nil
	_, _, where, filterArgs, ok := jobListWhere(&p, listWalk{})
	if !ok {
		return "", nil, false
	}
	order, reach, cmp := "DESC", "CASE WHEN count(*) < ? THEN 0 ELSE min(id) END", " >= "
	if params.OrderAsc {
		order, reach, cmp = "ASC", "CASE WHEN count(*) < ? THEN 9223372036854775807 ELSE max(id) END", " <= "
	}
	limit := listLimit(params.Limit)
	// Each tier's arms: the available jobs, the final states, the
	// in-flight states (see above).
	var with []string
	var withArgs []any
	tiers := make([][]string, 3)
	for _, st := range states {
		walk, terms, tier := walkFinished, []string{walkFinished.term}, 1
		switch {
		case store.InflightStates([]kilntype.JobState{st}):
			walk, terms, tier = walkInflight, []string{sqlInflightPredicate}, 2
		case st.Finalized():
		case available == store.AvailableNone:
			continue
		case available == store.AvailableSorted:
			walk, terms, tier = walkAvailable, nil, 0
			if params.Queues == nil {
				with = append(with, sqlAvailableQueues)
				terms = []string{availableQueueTerm}
			}
		default:
			walk, terms, tier = walkTable, nil, 0
		}
		tiers[tier] = append(tiers[tier], `SELECT id FROM `+walk.from()+` WHERE `+
			strings.Join(append(append([]string{`state = '` + string(st) + `'`}, terms...), where...), " AND "))
	}
	last := ""
	for i, tier := range tiers {
		if len(tier) == 0 {
			continue
		}
		var arms []string
		if last != "" {
			arms = append(arms, `SELECT id FROM `+last)
		}
		for _, arm := range tier {
			withArgs = append(withArgs, filterArgs...)
			if last != "" {
				arm += ` AND id` + cmp + `(SELECT ` + reach + ` FROM ` + last + `)`
				withArgs = append(withArgs, limit)
			}
			arms = append(arms, arm)
		}
		last = "tier" + strconv.Itoa(i+1)
		with = append(with, last+`(id) AS MATERIALIZED (
	`+strings.Join(arms, "\n\tUNION ALL ")+`
	ORDER BY id `+order+` LIMIT ?)`)
		withArgs = append(withArgs, limit)
	}
	if last == "" {
		return "", nil, false
	}
	columns := jobColumns
	var previewArgs []any
	if params.ArgsPreview > 0 {
		// As jobListQuery's.
		columns = strings.Replace(columns, "args,", "substr(args, 1, ?),", 1) + ", octet_length(args)"
		previewArgs = []any{params.ArgsPreview}
	}
	query := `WITH RECURSIVE ` + strings.Join(with, ",\n") + `
SELECT ` + columns + ` FROM kiln_job WHERE id IN (SELECT id FROM ` + last + `)
ORDER BY id ` + order + ` LIMIT ?`
	args := append(append(withArgs, previewArgs...), limit)
	return query, args, true
}
