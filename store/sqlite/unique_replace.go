package sqlite

import (
	"context"
	"database/sql"

	"github.com/kilnjobs/kiln/kilntype"
)

// sqlReplaceUnique changes waiting job ?1 as a replacing unique insert
// asks (store.UniqueReplace): args ?3 and partition key ?7 when ?2,
// ScheduledAt ?5 and state ?6 (a retryable job stays retryable) when ?4.
// A changed key moves an available job in the fair order (the trigger
// kiln_job_update tags it under its new key, kiln_job_untag clears the
// tag of a job left without one).
const sqlReplaceUnique = `UPDATE kiln_job SET
	args = CASE WHEN ?2 THEN ?3 ELSE args END,
	partition_key = CASE WHEN ?2 THEN ?7 ELSE partition_key END,
	scheduled_at = CASE WHEN ?4 THEN ?5 ELSE scheduled_at END,
	state = CASE WHEN ?4 AND state <> 'retryable' THEN ?6 ELSE state END
WHERE id = ?1 AND state IN ('available', 'scheduled', 'retryable')
RETURNING ` + jobColumns

// replaceUnique applies r.replace to job id, which holds r's unique key
// and was waiting when read in the same write transaction (so it still
// is: SQLite has one writer), and returns the job as it is after.
func replaceUnique(ctx context.Context, tx *sql.Tx, id int64, r insertedRow) (*kilntype.JobRow, error) {
	j := r.job
	return scanJob(tx.QueryRowContext(ctx, sqlReplaceUnique, id, r.replace.Args, string(j.Args),
		r.replace.Schedule, micros(j.ScheduledAt), string(j.State), j.Partition))
}
