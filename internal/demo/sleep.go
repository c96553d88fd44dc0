package demo

import (
	"context"
	"time"

	"github.com/kilnjobs/kiln"
)

// SleepArgs is a job that waits Millis milliseconds: a stand-in for slow
// work, which reports its progress as it goes and stops early when its
// context is cancelled.
type SleepArgs struct {
	// Millis is how long to sleep; 0 means 1000.
	Millis int `json:"millis,omitempty" jsonschema:"minimum=0,description=How long to sleep in milliseconds; 0 means 1000"`
}

// Kind returns "demo.sleep".
func (SleepArgs) Kind() string { return "demo.sleep" }

// sleepSteps is how many equal steps a demo.sleep job's wait is cut into;
// it reports its progress after each.
const sleepSteps = 10

// SleepWorker runs demo.sleep jobs. It is safe for concurrent use.
type SleepWorker struct {
	kiln.WorkerDefaults[SleepArgs]
}

// Work waits in sleepSteps equal steps, reporting its progress (10 %,
// 20 %, ... 100 %) after each with job.Progress, and logs a line when it
// starts, at half time and when it ends. It returns ctx's cause as soon as
// ctx is done, and an error wrapping kiln.ErrLeaseLost if a report finds
// the job's lease lost.
func (w *SleepWorker) Work(ctx context.Context, job *kiln.Job[SleepArgs]) error {
	d := time.Duration(job.Args.Millis) * time.Millisecond
	if d <= 0 {
		d = time.Second
	}
	if err := reported(job.Logf(ctx, "sleeping for %s, in %d steps", d, sleepSteps)); err != nil {
		return err
	}
	start := time.Now()
	t := time.NewTimer(d / sleepSteps)
	defer t.Stop()
	for step := 1; step <= sleepSteps; step++ {
		select {
		case <-t.C:
		case <-ctx.Done():
			// Written when Work returns, though ctx is done.
			_ = job.Logf(ctx, "stopped after %s of %s: %v", time.Since(start).Round(time.Millisecond), d, context.Cause(ctx))
			return context.Cause(ctx)
		}
		if err := reported(job.Progress(ctx, step*100/sleepSteps)); err != nil {
			return err
		}
		if step == sleepSteps/2 {
			if err := reported(job.Logf(ctx, "halfway: %s to go", d-d/2)); err != nil {
				return err
			}
		}
		if step < sleepSteps {
			// Each step ends at its share of d after start, so that the
			// steps' overheads do not add up.
			t.Reset(time.Until(start.Add(d * time.Duration(step+1) / sleepSteps)))
		}
	}
	return reported(job.Logf(ctx, "slept %s", time.Since(start).Round(time.Millisecond)))
}
