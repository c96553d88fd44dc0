package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnjobs/kiln"
)

// FlakyArgs is a job that fails its first Failures attempts on purpose,
// then succeeds: it shows retries.
type FlakyArgs struct {
	// Failures is how many attempts fail; 0 means 2.
	Failures int `json:"failures,omitempty" jsonschema:"minimum=0,description=How many attempts fail; 0 means 2"`
}

// Kind returns "demo.flaky".
func (FlakyArgs) Kind() string { return "demo.flaky" }

func (a FlakyArgs) failures() int {
	if a.Failures <= 0 {
		return 2
	}
	return a.Failures
}

// FlakyBackoff is the wait between attempts of demo.flaky jobs: short, so
// that the retries show within seconds instead of the default backoff's
// 16 s or more.
const FlakyBackoff = 1500 * time.Millisecond

// FlakyWorker runs demo.flaky jobs. It is safe for concurrent use.
type FlakyWorker struct {
	kiln.WorkerDefaults[FlakyArgs]
}

// Work fails while job.Attempt <= Failures and succeeds after, logging a
// line in each attempt (each line is kept with its attempt's number).
func (w *FlakyWorker) Work(ctx context.Context, job *kiln.Job[FlakyArgs]) error {
	if n := job.Args.failures(); job.Attempt <= n {
		if err := reported(job.Logf(ctx, "failing on purpose: attempt %d of the %d that fail", job.Attempt, n)); err != nil {
			return err
		}
		return fmt.Errorf("flaky: attempt %d of the %d that fail on purpose", job.Attempt, n)
	}
	return reported(job.Logf(ctx, "succeeding at attempt %d, after %d failures", job.Attempt, job.Attempt-1))
}

// Backoff returns FlakyBackoff.
func (w *FlakyWorker) Backoff(*kiln.Job[FlakyArgs]) time.Duration { return FlakyBackoff }

// MaxAttempts returns 5: enough for the default two failures.
func (w *FlakyWorker) MaxAttempts() int { return 5 }
