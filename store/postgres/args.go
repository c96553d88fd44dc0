package postgres

import (
	"context"
	"fmt"

	"github.com/kilnjobs/kiln/store"
)

const sqlArgsReplace = `UPDATE {s}.kiln_job SET args = $1::jsonb WHERE id = $2 AND args = $3::jsonb`

// JobArgsReplace sets job params.ID's args to params.New if they are
// params.Old, compared as jsonb values.
func (s *Store) JobArgsReplace(ctx context.Context, params *store.JobArgsReplaceParams) (bool, error) {
	tag, err := s.pool.Exec(ctx, s.sql(sqlArgsReplace), string(params.New), params.ID, string(params.Old))
	if err != nil {
		return false, fail(fmt.Sprintf("replace the args of job %d", params.ID), err)
	}
	return tag.RowsAffected() == 1, nil
}
