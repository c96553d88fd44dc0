package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// ServerStore keeps the registry of Kiln processes (servers) sharing the
// store: each running client upserts its row every few seconds, deletes it
// when it stops, and the maintenance leader deletes the rows of processes
// that died (whose jobs come back through lease expiry).
type ServerStore interface {
	// ServerUpsert records params.Row as the state of server Row.ID, replacing its
	// previous row (Queues, Kinds and Limits included).
	ServerUpsert(ctx context.Context, params *ServerUpsertParams) error
	// ServerList returns every registered server, ordered by ID, with
	// empty (not nil) Queues, Kinds and Limits where it has none.
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
//
// A store that keeps time by its database's clock (PostgreSQL without
// Options.CallerClock) stamps each row's RefreshedAt with that clock and
// deletes the rows not refreshed for longer than TTL by it, so that
// processes on hosts whose clocks disagree never reap each other's live
// rows; it reads Before only when TTL is 0. SQLite, one file on one host,
// and PostgreSQL with CallerClock compare RefreshedAt with Before.
type ServerDeleteStaleParams struct {
	Before time.Time     // servers whose RefreshedAt is before it (the caller's clock)
	TTL    time.Duration // servers not refreshed for longer (the database's clock; 0: use Before)
}

// ServerJSON returns row's Queues and Limits as the JSON arrays both
// backends store them as: [] for none.
func ServerJSON(row *kilntype.ServerRow) (queues, limits []byte, err error) {
	q, l := row.Queues, row.Limits
	if q == nil {
		q = []kilntype.ServerQueue{}
	}
	if l == nil {
		l = []kilntype.KindLimits{}
	}
	if queues, err = json.Marshal(q); err != nil {
		return nil, nil, err
	}
	limits, err = json.Marshal(l)
	return queues, limits, err
}
