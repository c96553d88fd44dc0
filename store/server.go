package store

import (
	"context"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// ServerStore keeps the registry of Kiln processes (servers) sharing the
// store: each running client upserts its row every few seconds, deletes it
// when it stops, and the maintenance leader deletes the rows of processes
// that died (whose jobs come back through lease expiry).
type ServerStore interface {
	// ServerUpsert records params.Row as the state of server Row.ID, replacing its
	// previous row (Queues and Kinds included).
	ServerUpsert(ctx context.Context, params *ServerUpsertParams) error
	// ServerList returns every registered server, ordered by ID.
	ServerList(ctx context.Context) ([]*kilntype.ServerRow, error)
	// ServerDelete deletes server params.ID's row; an unknown ID is not an
	// error.
	ServerDelete(ctx context.Context, params *ServerDeleteParams) error
	// ServerDeleteStale deletes the servers whose RefreshedAt is before
	// params.Before, and returns their IDs.
	ServerDeleteStale(ctx context.Context, params *ServerDeleteStaleParams) ([]string, error)
}

// ServerUpsertParams is the row ServerUpsert records.
type ServerUpsertParams struct {
	Row *kilntype.ServerRow
}

// ServerDeleteParams names the server ServerDelete deletes.
type ServerDeleteParams struct {
	ID string
}

// ServerDeleteStaleParams selects the servers ServerDeleteStale deletes.
type ServerDeleteStaleParams struct {
	Before time.Time // servers whose RefreshedAt is before it
}
