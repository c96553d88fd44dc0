package postgres_test

import (
	"testing"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/storetest"
)

// BenchmarkStore runs the benchmarks shared by every store, so that
// PostgreSQL and SQLite compare on the same work.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return newStore(b) })
}
