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
// results. Several rows of one call that hold the same job are folded in
// their order, as if inserted one after the other (as SQLite applies
// them): the args and partition key are those of the last row that
// replaces the args, the schedule and state those of the last row that
// replaces the schedule; each of their results holds the job as it is
// after its own row (as SQLite's).
func (s *Store) replaceUnique(ctx context.Context, q querier, rows []insertedRow, skipped []int, results []store.JobInsertResult) error {
	type fold struct{ args, schedule int } // indexes of rows; -1: none
	folds := map[int64]*fold{}
	var order []int64
	for _, i := range skipped {
		res := results[i]
		if res.Job == nil || !rows[i].replace.Any() || !store.Replaceable(res.Job.State) {
			continue
		}
		f := folds[res.Job.ID]
		if f == nil {
			f = &fold{args: -1, schedule: -1}
			folds[res.Job.ID] = f
			order = append(order, res.Job.ID)
		}
		if rows[i].replace.Args {
			f.args = i
		}
		if rows[i].replace.Schedule {
			f.schedule = i
		}
	}
	if len(order) == 0 {
		return nil
	}
	n := len(order)
	ids, args, states, keys := make([]int64, n), make([]string, n), make([]string, n), make([]string, n)
	replaceArgs, replaceSchedule := make([]bool, n), make([]bool, n)
	scheduledAt := make([]time.Time, n)
	for k, id := range order {
		f := folds[id]
		ids[k], args[k] = id, "null" // args not replaced: never read, but valid jsonb
		if f.args >= 0 {
			r := rows[f.args]
			args[k], keys[k], replaceArgs[k] = string(r.job.Args), r.job.Partition, true
		}
		if f.schedule >= 0 {
			r := rows[f.schedule]
			states[k], scheduledAt[k], replaceSchedule[k] = string(r.job.State), r.job.ScheduledAt, true
		}
	}
	changed, err := scanJobs(q.Query(ctx, s.sql(sqlReplaceUnique), ids, args, replaceArgs, scheduledAt, states, replaceSchedule, keys))
	if err != nil {
		return fmt.Errorf("replace unique jobs: %w", err)
	}
	byID := make(map[int64]*kilntype.JobRow, len(changed))
	for _, j := range changed {
		byID[j.ID] = j
	}
	// Each result holds the job as it is after its own row: the args of
	// the last row up to it that replaces args (or the job's own, as the
	// insert read it), the schedule likewise, the rest as the statement
	// left it.
	before := map[int64]*kilntype.JobRow{}
	upTo := map[int64]*fold{}
	for _, i := range skipped {
		if results[i].Job == nil || !rows[i].replace.Any() {
			continue
		}
		id := results[i].Job.ID
		j, ok := byID[id]
		if !ok {
			continue
		}
		if before[id] == nil {
			before[id], upTo[id] = results[i].Job, &fold{args: -1, schedule: -1}
		}
		f := upTo[id]
		if rows[i].replace.Args {
			f.args = i
		}
		if rows[i].replace.Schedule {
			f.schedule = i
		}
		copied := *j
		if f.args < 0 {
			copied.Args, copied.Partition = before[id].Args, before[id].Partition
		}
		if f.schedule < 0 {
			copied.ScheduledAt, copied.State = before[id].ScheduledAt, before[id].State
		}
		results[i].Job, results[i].UniqueReplaced = &copied, true
	}
	return nil
}
