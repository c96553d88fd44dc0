package kilntest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntest"
)

// EmailArgs and EmailWorker are the README's worker.
type EmailArgs struct{ To string }

func (EmailArgs) Kind() string { return "email" }

// Mailer sends mail; tests give the worker a fake one.
type Mailer interface {
	Send(ctx context.Context, to string) error
}

type EmailWorker struct {
	kiln.WorkerDefaults[EmailArgs]
	Mailer Mailer
}

func (w *EmailWorker) Work(ctx context.Context, job *kiln.Job[EmailArgs]) error {
	job.Logf(ctx, "sending to %s", job.Args.To)
	return w.Mailer.Send(ctx, job.Args.To)
}

// fakeMailer records what it sent, or fails.
type fakeMailer struct {
	sent []string
	err  error
}

func (m *fakeMailer) Send(_ context.Context, to string) error {
	if m.err != nil {
		return m.err
	}
	m.sent = append(m.sent, to)
	return nil
}

// exampleTB stands for the *testing.T of a real test, which examples do
// not have: it makes failures print and stop.
type exampleTB struct{ testing.TB }

func (exampleTB) Helper() {}
func (exampleTB) Fatalf(format string, args ...any) {
	fmt.Printf(format+"\n", args...)
	os.Exit(1)
}

// Run the worker of the README once, inline, with a fake mailer: no store,
// no client.
func ExampleWork() {
	t := exampleTB{} // in a test: the *testing.T
	mailer := &fakeMailer{}
	res := kilntest.Work(context.Background(), t, &EmailWorker{Mailer: mailer}, EmailArgs{To: "ada@example.com"}, nil)
	fmt.Println(res.State, mailer.sent, res.Logs)

	// A failing mailer: the attempt fails and would be retried.
	res = kilntest.Work(context.Background(), t, &EmailWorker{Mailer: &fakeMailer{err: errors.New("smtp down")}},
		EmailArgs{To: "ada@example.com"}, &kilntest.WorkOpts{Attempt: 3})
	fmt.Println(res.State, res.Err)
	// Output:
	// completed [ada@example.com] [sending to ada@example.com]
	// retryable smtp down
}

// signUp is the code under test: it enqueues a welcome email.
func signUp(ctx context.Context, c *kiln.Client, email string) error {
	_, err := c.Enqueue(ctx, EmailArgs{To: email}, &kiln.EnqueueOpts{Queue: "mail", RunIn: time.Minute})
	return err
}

// Check that code enqueued a job, with its args and options.
func ExampleRequireEnqueued() {
	ctx := context.Background()
	t := &cleanupTB{}
	defer t.cleanup()
	c := kilntest.NewClient(t, nil) // a fresh SQLite store; an enqueue-only client

	if err := signUp(ctx, c, "ada@example.com"); err != nil {
		t.Fatalf("sign up: %v", err)
	}
	job := kilntest.RequireEnqueued(ctx, t, c, EmailArgs{To: "ada@example.com"},
		&kilntest.RequireOpts{Queue: "mail", State: kiln.JobStateScheduled})
	fmt.Println(job.Kind, job.Args.To)
	kilntest.RequireNotEnqueued(ctx, t, c, EmailArgs{To: "bob@example.com"}, nil)
	// Output:
	// email ada@example.com
}

// Run a queue's jobs synchronously, moving a test clock through delays
// and retries.
func ExampleDrain() {
	ctx := context.Background()
	t := &cleanupTB{}
	defer t.cleanup()
	mailer := &fakeMailer{}
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, &EmailWorker{Mailer: mailer})
	clock := kilntest.NewClock(time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC))
	c := kilntest.NewClient(t, &kiln.Config{Workers: workers, Clock: clock, Queues: map[string]kiln.QueueConfig{"mail": {MaxWorkers: 1}}})

	if err := signUp(ctx, c, "ada@example.com"); err != nil {
		t.Fatalf("sign up: %v", err)
	}
	res := kilntest.Drain(ctx, t, c, &kilntest.DrainOpts{Queues: []string{"mail"}})
	fmt.Println("due now:", len(res.Attempts))
	res = kilntest.Drain(ctx, t, c, &kilntest.DrainOpts{Queues: []string{"mail"}, Clock: clock})
	fmt.Println("with the clock:", res.Count(kiln.JobStateCompleted), "completed at", clock.Now().Format("15:04"), mailer.sent)
	// Output:
	// due now: 0
	// with the clock: 1 completed at 09:01 [ada@example.com]
}

// cleanupTB is an exampleTB with a temporary directory and cleanups, for
// the examples that open a store.
type cleanupTB struct {
	exampleTB
	dirs []string
	fns  []func()
}

func (c *cleanupTB) TempDir() string {
	dir, err := os.MkdirTemp("", "kilntest-example")
	if err != nil {
		c.Fatalf("temp dir: %v", err)
	}
	c.dirs = append(c.dirs, dir)
	return dir
}

func (c *cleanupTB) Cleanup(fn func()) { c.fns = append(c.fns, fn) }

func (c *cleanupTB) cleanup() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
	for _, d := range c.dirs {
		os.RemoveAll(d)
	}
}
