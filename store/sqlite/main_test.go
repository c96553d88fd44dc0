package sqlite_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, once every test has run, that none left a goroutine
// behind (a store's connections or writers).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
