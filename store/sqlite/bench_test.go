package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
	"github.com/kilnjobs/kiln/store/storetest"
)

// BenchmarkStore runs the benchmarks shared by every store, so that SQLite
// and PostgreSQL compare on the same work.
//
// BenchmarkStore/synchronous=FULL runs them with Options.Synchronous FULL,
// to measure what a sync of the write-ahead log on every commit costs.
func BenchmarkStore(b *testing.B) {
	for _, sync := range []sqlite.Synchronous{sqlite.SynchronousNormal, sqlite.SynchronousFull} {
		b.Run("synchronous="+string(sync), func(b *testing.B) {
			storetest.Bench(b, func(b *testing.B) store.Store {
				s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true, Synchronous: sync})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}
