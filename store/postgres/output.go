package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlGetJobOutput returns one job with its output, for JobGet.
const sqlGetJobOutput = `SELECT ` + jobColumns + `, output FROM {s}.kiln_job WHERE id = $1`

// withOutput returns stmt, the text of sqlCompleteJobs or sqlFinishJobs,
// with one more array, $n::text[], of the jobs' outputs as JSON text (NULL:
// none), which completed jobs get as their output: the same statement
// writes a batch's completions and their outputs, and a batch without
// outputs runs the statement unchanged (no array more to send, no column
// more to write). It panics if stmt lacks a fragment it extends: a test
// runs both variants.
func withOutput(stmt string, edits ...string) string {
	for i := 0; i < len(edits); i += 2 {
		if strings.Count(stmt, edits[i]) != 1 {
			panic(fmt.Sprintf("postgres: output variant: fragment %q not found once", edits[i]))
		}
	}
	return strings.NewReplacer(edits...).Replace(stmt)
}

// sqlCompleteJobsOutput is sqlCompleteJobs with the outputs in $6: each
// completed job's output becomes $6[i] (NULL clears it).
var sqlCompleteJobsOutput = withOutput(sqlCompleteJobs,
	"$5::text[])\n\t\tAS f(id, leased_by, attempted_at, finalized_at, server)",
	"$5::text[], $6::text[])\n\t\tAS f(id, leased_by, attempted_at, finalized_at, server, output)",
	"attempted_by = coalesce(f.server, ($5::text[])[1]),",
	"attempted_by = coalesce(f.server, ($5::text[])[1]), output = f.output::jsonb,")

// sqlFinishJobsOutput is sqlFinishJobs with the outputs in $17: a job that
// completes gets $17[i] as its output (NULL clears it); a job that moves to
// any other state keeps its output.
var sqlFinishJobsOutput = withOutput(sqlFinishJobs,
	"$11::text[], $12::text[])\n\t\tAS f(id, leased_by, state, scheduled_at, undo, finalized_at, last_error, attempted_at, now,\n\t\t\tserver, outcome)",
	"$11::text[], $12::text[], $17::text[])\n\t\tAS f(id, leased_by, state, scheduled_at, undo, finalized_at, last_error, attempted_at, now,\n\t\t\tserver, outcome, output)",
	"THEN f.server END,",
	"THEN f.server END,\n\t\toutput = CASE WHEN f.state = 'completed' THEN f.output::jsonb ELSE j.output END,")

// outputs returns the outputs of params as the text array of the output
// variants, and whether any param has one (else the plain statements run).
func outputs(params []*store.JobFinishParams) ([]*string, bool) {
	found := false
	for _, p := range params {
		if p != nil && p.Output != nil && p.State == kilntype.JobStateCompleted {
			found = true
			break
		}
	}
	if !found {
		return nil, false
	}
	out := make([]*string, len(params))
	for i, p := range params {
		if p.Output != nil && p.State == kilntype.JobStateCompleted {
			s := string(p.Output)
			out[i] = &s
		}
	}
	return out, true
}

// JobOutputList returns the outputs of params' jobs (see
// store.JobOutputStore): by primary key for IDs, through kiln_batch_job's
// primary key (batch_id, job_id) for a batch.
func (s *Store) JobOutputList(ctx context.Context, params *store.JobOutputListParams) ([]*kilntype.JobOutput, error) {
	if err := params.Validate(); err != nil {
		return nil, fail("list outputs", err)
	}
	limit := params.EffectiveLimit()
	var (
		rows pgx.Rows
		err  error
	)
	if params.BatchID != "" {
		rows, err = s.pool.Query(ctx, s.sql(`SELECT j.id, j.state, j.output::text
FROM {s}.kiln_batch_job AS b JOIN {s}.kiln_job AS j ON j.id = b.job_id
WHERE b.batch_id = $1 AND b.job_id > $2
ORDER BY b.job_id LIMIT $3`), params.BatchID, params.AfterID, limit)
	} else {
		rows, err = s.pool.Query(ctx, s.sql(`SELECT id, state, output::text FROM {s}.kiln_job
WHERE id = ANY($1::bigint[]) AND id > $2
ORDER BY id LIMIT $3`), params.IDs, params.AfterID, limit)
	}
	if err != nil {
		return nil, fail("list outputs", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*kilntype.JobOutput, error) {
		var (
			o      kilntype.JobOutput
			state  string
			output *string
		)
		if err := row.Scan(&o.JobID, &state, &output); err != nil {
			return nil, err
		}
		o.State = kilntype.JobState(state)
		if output != nil && o.State == kilntype.JobStateCompleted {
			o.Output = []byte(*output)
		}
		return &o, nil
	})
	if err != nil {
		return nil, fail("list outputs", err)
	}
	if out == nil {
		out = []*kilntype.JobOutput{}
	}
	return out, nil
}

// extraRow is a row of jobColumns followed by more columns, which Scan
// reads into extra after scanJob's destinations.
type extraRow struct {
	pgx.Row
	extra []any
}

func (r extraRow) Scan(dest ...any) error { return r.Row.Scan(append(dest, r.extra...)...) }
