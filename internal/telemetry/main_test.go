package telemetry

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks, once every test has run, that none left a goroutine
// behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
