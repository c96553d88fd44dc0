package postgres_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// TestMain checks, once every test has run, that none left a goroutine
// behind (a subscription, a pool, a listener), and reports how many tests
// pgtest skipped for want of a database.
func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m)) }
