package schedule

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, once every test has run, that none left a goroutine
// behind (none is expected: parsing starts no goroutine).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
