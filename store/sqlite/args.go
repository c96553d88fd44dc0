package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kilnjobs/kiln/store"
)

// JobArgsReplace sets job params.ID's args to params.New if they are
// params.Old, byte for byte (SQLite keeps args as the text given).
func (s *Store) JobArgsReplace(ctx context.Context, params *store.JobArgsReplaceParams) (bool, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx, _ *stmts) error {
		res, err := tx.ExecContext(ctx, `UPDATE kiln_job SET args = ?1 WHERE id = ?2 AND args = ?3`,
			string(params.New), params.ID, string(params.Old))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fail(fmt.Sprintf("replace the args of job %d", params.ID), err)
	}
	return n == 1, nil
}
