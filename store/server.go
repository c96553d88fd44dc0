package store

import (
	"context"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// ServerStore keeps the registry of Kiln processes (servers) sharing the
// store: each running client upserts its row on every heartbeat, deletes it
// when it stops, and the maintenance leader deletes the rows of processes
// that died (whose jobs come back through lease expiry). Both built-in
// stores implement it; the client uses it when the store has it, so a
// third-party store may leave it out.
type ServerStore interface {
	// ServerUpsert records row as the state of server row.ID, replacing its
	// previous row (Queues and Kinds included).
	ServerUpsert(ctx context.Context, row *kilntype.ServerRow) error
	// ServerList returns every registered server, ordered by ID.
	ServerList(ctx context.Context) ([]*kilntype.ServerRow, error)
	// ServerDelete deletes server id's row; an unknown id is not an error.
	ServerDelete(ctx context.Context, id string) error
	// ServerDeleteStale deletes the servers whose HeartbeatAt is before
	// before, and returns their IDs.
	ServerDeleteStale(ctx context.Context, before time.Time) ([]string, error)
}
