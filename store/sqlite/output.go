package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlGetJobOutput returns one job with its output, for JobGet.
const sqlGetJobOutput = `SELECT ` + jobColumns + `, output FROM kiln_job WHERE id = ?`

// sqlSetOutput stores output ?1 on job ?2, which the same transaction has
// just completed.
const sqlSetOutput = `UPDATE kiln_job SET output = ?1 WHERE id = ?2 AND state = 'completed'`

// setOutputs stores, in tx, the outputs of the params that completed their
// job (moved holds the IDs the finish moved): one prepared single-row
// update per output, run only for jobs that have one, so a finish without
// outputs runs no statement more than before (the statement is prepared on
// the writer's connection, and SQLite runs it in process: no round trip).
func setOutputs(ctx context.Context, tx *sql.Tx, st *stmts, params []*store.JobFinishParams, moved map[int64]bool) error {
	var set *sql.Stmt
	for _, p := range params {
		if p.Output == nil || p.State != kilntype.JobStateCompleted || !moved[p.ID] {
			continue
		}
		if set == nil {
			set = tx.StmtContext(ctx, st.setOutput)
		}
		if _, err := set.ExecContext(ctx, string(p.Output), p.ID); err != nil {
			return fmt.Errorf("job %d: %w", p.ID, err)
		}
	}
	return nil
}

// JobOutputList returns the outputs of params' jobs (see
// store.JobOutputStore), read from the reader pool: by primary key for
// IDs, through kiln_batch_job's primary key (batch_id, job_id) for a batch.
func (s *Store) JobOutputList(ctx context.Context, params *store.JobOutputListParams) ([]*kilntype.JobOutput, error) {
	if err := params.Validate(); err != nil {
		return nil, fail("list outputs", err)
	}
	limit := params.EffectiveLimit()
	var (
		rows *sql.Rows
		err  error
	)
	if params.BatchID != "" {
		rows, err = s.r.QueryContext(ctx, `SELECT j.id, j.state, j.output
FROM kiln_batch_job AS b JOIN kiln_job AS j ON j.id = b.job_id
WHERE b.batch_id = ?1 AND b.job_id > ?2
ORDER BY b.job_id LIMIT ?3`, params.BatchID, params.AfterID, limit)
	} else {
		rows, err = s.r.QueryContext(ctx, `SELECT id, state, output FROM kiln_job
WHERE id IN (SELECT value FROM json_each(?1)) AND id > ?2
ORDER BY id LIMIT ?3`, jsonIDs(params.IDs), params.AfterID, limit)
	}
	if err != nil {
		return nil, fail("list outputs", err)
	}
	defer rows.Close()
	out := []*kilntype.JobOutput{}
	for rows.Next() {
		var (
			o      kilntype.JobOutput
			state  string
			output sql.NullString
		)
		if err := rows.Scan(&o.JobID, &state, &output); err != nil {
			return nil, fail("list outputs", err)
		}
		o.State = kilntype.JobState(state)
		if output.Valid && o.State == kilntype.JobStateCompleted {
			o.Output = []byte(output.String)
		}
		out = append(out, &o)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list outputs", err)
	}
	return out, nil
}
