package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
	"github.com/kilnjobs/kiln/store/storetest"
)

// TestQueues runs the store.QueueStore contract across two Stores on one
// database (two processes); storetest.Run covers the rest.
func TestQueues(t *testing.T) {
	t.Parallel()
	storetest.RunQueuesAcrossStores(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "kiln.db")
		return open(t, path, &sqlite.Options{Migrate: true}), open(t, path, &sqlite.Options{Migrate: true})
	})
}
