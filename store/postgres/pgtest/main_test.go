package pgtest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, once every test has run, that none left a goroutine
// behind (the admin pools).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
