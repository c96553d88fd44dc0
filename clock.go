package kiln

import "time"

// Clock tells the time. The client reads every timestamp it stores from its
// Clock, so tests can move time forward (see kilntest.Clock) to make
// scheduled jobs and retries due without sleeping. Timers that pace loops
// (poll intervals) use real time.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }
