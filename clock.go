package kiln

import "time"

// Clock tells the time. The client reads every timestamp it stores from its
// Clock, so tests can move time forward (see kilntest.Clock) to make
// scheduled jobs and retries due without sleeping. Timers that pace loops
// (poll intervals) use real time. The PostgreSQL store takes lease ends and
// leader terms from the database server's clock instead (so that hosts
// whose clocks disagree cannot run one job twice), unless it is opened
// with postgres.Options.CallerClock, which tests that expire leases with a
// moved Clock need.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }
