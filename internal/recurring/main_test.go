package recurring

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, once every test has run, that none left a goroutine
// behind (the scheduler's loop).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
