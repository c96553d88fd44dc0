package kiln

import (
	"context"
	"errors"
	"fmt"

	"github.com/kilnjobs/kiln/store"
)

// EnqueueTx enqueues one job inside tx, a transaction the caller opened on
// the store's database: the job exists only if tx commits, so it is
// enqueued atomically with the caller's own writes (River's InsertTx,
// Oban's insert inside an Ecto transaction; Hangfire cannot). TTx is the
// store's transaction type: pgx.Tx for store/postgres (pass the value
// pool.Begin returned, typed pgx.Tx). EnqueueTx neither commits nor rolls
// back tx. Workers see the job once tx commits: on PostgreSQL the wake-up
// notification is sent with the commit, so they start it at once, in every
// process.
//
// Options and errors are as Enqueue's; in addition it returns an error
// wrapping errors.ErrUnsupported if the client's store cannot insert in a
// transaction of type TTx (the SQLite store cannot: it owns its only
// writer connection).
func EnqueueTx[TTx any](ctx context.Context, c *Client, tx TTx, args JobArgs, opts *EnqueueOpts) (*EnqueueResult, error) {
	res, err := EnqueueManyTx(ctx, c, tx, []EnqueueParams{{Args: args, Opts: opts}})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// EnqueueManyTx is EnqueueMany inside tx: all of params, or none if tx
// rolls back. See EnqueueTx.
func EnqueueManyTx[TTx any](ctx context.Context, c *Client, tx TTx, params []EnqueueParams) ([]*EnqueueResult, error) {
	ts, ok := c.cfg.Store.(store.TxStore[TTx])
	if !ok {
		return nil, fmt.Errorf("kiln: enqueue in a transaction: the store (%T) cannot insert in a %T transaction: %w",
			c.cfg.Store, tx, errors.ErrUnsupported)
	}
	return c.enqueue(ctx, params, func(ctx context.Context, ins []*store.JobInsertParams) ([]store.JobInsertResult, error) {
		return ts.JobInsertManyTx(ctx, tx, ins)
	})
}
