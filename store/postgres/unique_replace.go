package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlReplaceUnique changes waiting jobs as replacing unique inserts ask
// (store.UniqueReplace): row i of the arrays gives job $1[i] the args
// $2[i] and the partition key $7[i] when $3[i], and the ScheduledAt $4[i]
// and state $5[i] (a retryable job stays retryable) when $6[i]. old locks the jobs in ID order and
// reads the state each leaves; one that a claim took meanwhile (old waits
// for the claim's commit, then re-checks) is no longer waiting and is left
// alone. counted writes the counter deltas of the jobs whose state
// changed. It returns the jobs it changed.
var sqlReplaceUnique = `WITH old AS MATERIALIZED (
	SELECT id, queue, state FROM {s}.kiln_job
	WHERE id = ANY($1::bigint[]) AND state IN ('available', 'scheduled', 'retryable')
	ORDER BY id FOR NO KEY UPDATE
),
moved AS (
	UPDATE {s}.kiln_job AS j SET
		args = CASE WHEN r.replace_args THEN r.args::jsonb ELSE j.args END,
		partition_key = CASE WHEN r.replace_args THEN r.partition_key ELSE j.partition_key END,
		scheduled_at = CASE WHEN r.replace_schedule THEN r.scheduled_at ELSE j.scheduled_at END,
		state = CASE WHEN r.replace_schedule AND j.state <> 'retryable' THEN r.state ELSE j.state END
	FROM unnest($1::bigint[], $2::text[], $3::boolean[], $4::timestamptz[], $5::text[], $6::boolean[], $7::text[])
		AS r(id, args, replace_args, scheduled_at, state, replace_schedule, partition_key)
	WHERE j.id = ANY(ARRAY(SELECT id FROM old)) AND j.id = r.id
	RETURNING ` + qualified("j", jobColumns) + `
),
counted AS (
	` + countMoves("moved AS m JOIN old AS o ON o.id = m.id", "m.queue", "m.state", "o.queue", "o.state") + `
)
SELECT ` + jobColumns + ` FROM moved`

// replaceUnique applies the UniqueReplace of the rows at indexes skipped
// whose results hold a waiting job, in one statement, and updates their
// results. Of several rows of one call that hold the same job, the last
// one's values are applied (as if inserted one after the other), and each
// of their results holds the job as it is after.
func (s *Store) replaceUnique(ctx context.Context, q querier, rows []insertedRow, skipped []int, results []store.JobInsertResult) error {
	last := map[int64]int{} // job ID -> index of the last row replacing it
	var order []int64
	for _, i := range skipped {
		res := results[i]
		if res.Job == nil || !rows[i].replace.Any() || !store.Replaceable(res.Job.State) {
			continue
		}
		if _, seen := last[res.Job.ID]; !seen {
			order = append(order, res.Job.ID)
		}
		last[res.Job.ID] = i
	}
	if len(order) == 0 {
		return nil
	}
	n := len(order)
	ids, args, states, keys := make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
	replaceArgs, replaceSchedule := make([]bool, n), make([]bool, n)
	scheduledAt := make([]time.Time, n)
	for k, id := range order {
		r := rows[last[id]]
		ids[k], args[k], states[k], keys[k] = id, string(r.job.Args), string(r.job.State), r.job.Partition
		replaceArgs[k], replaceSchedule[k], scheduledAt[k] = r.replace.Args, r.replace.Schedule, r.job.ScheduledAt
	}
	changed, err := scanJobs(q.Query(ctx, s.sql(sqlReplaceUnique), ids, args, replaceArgs, scheduledAt, states, replaceSchedule, keys))
	if err != nil {
		return fmt.Errorf("replace unique jobs: %w", err)
	}
	byID := make(map[int64]*kilntype.JobRow, len(changed))
	for _, j := range changed {
		byID[j.ID] = j
	}
	for _, i := range skipped {
		if results[i].Job == nil || !rows[i].replace.Any() {
			continue
		}
		if j, ok := byID[results[i].Job.ID]; ok {
			copied := *j
			results[i].Job, results[i].UniqueReplaced = &copied, true
		}
	}
	return nil
}
