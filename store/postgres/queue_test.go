package postgres_test

import (
	"testing"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/storetest"
)

// TestQueues runs the contract group of store.QueueStore, on a schema of
// its own and across two Stores (two pools) on one schema (two processes).
func TestQueues(t *testing.T) {
	t.Parallel()
	testURL(t)
	storetest.RunQueuesAcrossStores(t, func(t *testing.T) (store.Store, store.Store) {
		schema := newSchema(t)
		return open(t, &postgres.Options{Schema: schema, MaxConns: 4, Migrate: true}),
			open(t, &postgres.Options{Schema: schema, MaxConns: 4, Migrate: true})
	})
}
