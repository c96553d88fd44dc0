package demo

import (
	"context"
	"time"

	"github.com/kilnjobs/kiln"
)

// SleepArgs is a job that waits Millis milliseconds: a stand-in for slow
// work, which stops early when its context is cancelled.
type SleepArgs struct {
	// Millis is how long to sleep; 0 means 1000.
	Millis int `json:"millis,omitempty"`
}

// Kind returns "demo.sleep".
func (SleepArgs) Kind() string { return "demo.sleep" }

// SleepWorker runs demo.sleep jobs. It is safe for concurrent use.
type SleepWorker struct {
	kiln.WorkerDefaults[SleepArgs]
}

// Work waits, or returns ctx's error as soon as ctx is done.
func (w *SleepWorker) Work(ctx context.Context, job *kiln.Job[SleepArgs]) error {
	d := time.Duration(job.Args.Millis) * time.Millisecond
	if d <= 0 {
		d = time.Second
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
