package kiln_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
)

// causeWorker reports the start of each attempt and the cause of its
// context once it is done; reports beyond the channels' room are dropped.
type causeWorker struct {
	kiln.WorkerDefaults[testArgs]
	timeout time.Duration
	started chan int64
	causes  chan error
}

func (w *causeWorker) Timeout(*kiln.Job[testArgs]) time.Duration { return w.timeout }

func (w *causeWorker) Work(ctx context.Context, job *kiln.Job[testArgs]) error {
	select {
	case w.started <- job.ID:
	default:
	}
	<-ctx.Done()
	select {
	case w.causes <- context.Cause(ctx):
	default:
	}
	return ctx.Err()
}

// TestJobContextCauses checks that a worker can tell, with errors.Is on
// context.Cause, why its job's context ended: a timeout, a cancel request,
// a shutdown or a lost lease, each a distinct exported error.
func TestJobContextCauses(t *testing.T) {
	t.Parallel()
	all := []error{kiln.ErrJobTimeout, kiln.ErrJobCancelRequested, kiln.ErrShutdown, kiln.ErrLeaseLost}
	for _, tc := range []struct {
		name    string
		want    error
		timeout time.Duration
		// trigger ends the running job's context.
		trigger func(t *testing.T, c *kiln.Client, id int64)
		// lease makes lease renewals fail until the first cause arrives.
		lease bool
	}{
		{name: "timeout", want: kiln.ErrJobTimeout, timeout: 20 * time.Millisecond,
			trigger: func(*testing.T, *kiln.Client, int64) {}},
		{name: "cancel", want: kiln.ErrJobCancelRequested, timeout: -1,
			trigger: func(t *testing.T, c *kiln.Client, id int64) {
				if _, err := c.JobCancel(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "shutdown", want: kiln.ErrShutdown, timeout: -1,
			trigger: func(t *testing.T, c *kiln.Client, _ int64) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := c.StopAndCancel(ctx); err != nil {
					t.Fatal(err)
				}
			}},
		// Renewals fail, so the lease lapses: the rescuer takes the job
		// back and this process claims it again, cancelling the old copy.
		{name: "lease lost", want: kiln.ErrLeaseLost, timeout: -1, lease: true,
			trigger: func(*testing.T, *kiln.Client, int64) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &causeWorker{timeout: tc.timeout, started: make(chan int64, 2), causes: make(chan error, 2)}
			workers := kiln.NewWorkers()
			kiln.AddWorker(workers, w)
			st := &renewFailingStore{Store: openStore(t, "")}
			st.fail.Store(tc.lease)
			cfg := fastConfigFor(st, workers, nil)
			if tc.lease {
				cfg.LeaseDuration = time.Second
			}
			c := startClient(t, cfg)
			job := clienttest.Enqueue(t, c, testArgs{}, nil)
			<-w.started
			tc.trigger(t, c, job.ID)
			cause := testutil.Receive(t, w.causes, "the job's context to end", nil)
			st.fail.Store(false)
			for _, e := range all {
				if got := errors.Is(cause, e); got != (e == tc.want) {
					t.Errorf("errors.Is(cause %v, %v) = %v", cause, e, got)
				}
			}
			// The lease case's second copy runs until cancelled.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := c.StopAndCancel(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}
