package bulk

import "time"

// SetRetryDelays replaces retryDelays until the returned function restores
// them, so that a test of failing batches waits microseconds, not seconds.
// Tests that call it must not run in parallel.
func SetRetryDelays(d []time.Duration) (restore func()) {
	old := retryDelays
	retryDelays = d
	return func() { retryDelays = old }
}
