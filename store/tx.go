package store

import (
	"context"

	"github.com/kilnjobs/kiln/kilntype"
)

// TxStore is implemented by backends that can insert jobs inside a
// transaction of the caller's, so that the jobs exist only if that
// transaction commits (River's InsertTx, Oban's insert inside an Ecto
// transaction). TTx is the backend's transaction type: pgx.Tx for
// store/postgres. The client's EnqueueTx functions use it; the store
// package itself names no driver.
type TxStore[TTx any] interface {
	// JobInsertManyTx does what Store.JobInsertMany does, in tx: nothing
	// is visible to other transactions (claims included) before tx
	// commits, and nothing remains if it rolls back. It neither commits nor
	// rolls back tx.
	JobInsertManyTx(ctx context.Context, tx TTx, params []*JobInsertParams) ([]JobInsertResult, error)
}

// TxJobLister is implemented by backends that can read jobs inside a
// transaction of the caller's, seeing the jobs that transaction inserted
// before it commits: what kilntest.RequireEnqueuedTx needs to check a
// JobInsertManyTx.
type TxJobLister[TTx any] interface {
	// JobListTx does what Store.JobList does, in tx. It neither commits
	// nor rolls back tx.
	JobListTx(ctx context.Context, tx TTx, params *JobListParams) ([]*kilntype.JobRow, error)
}
