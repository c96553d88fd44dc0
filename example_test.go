package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// WelcomeArgs are the args of a "welcome_email" job.
type WelcomeArgs struct {
	Email string `json:"email"`
}

func (WelcomeArgs) Kind() string { return "welcome_email" }

// WelcomeWorker sends welcome emails. It holds its own dependencies.
type WelcomeWorker struct {
	kiln.WorkerDefaults[WelcomeArgs]
	From string
}

func (w *WelcomeWorker) Work(ctx context.Context, job *kiln.Job[WelcomeArgs]) error {
	fmt.Printf("%s sends a welcome to %s\n", w.From, job.Args.Email)
	return nil
}

// exampleStore opens a fresh SQLite database for an example.
func exampleStore() (*sqlite.Store, func()) {
	dir, err := os.MkdirTemp("", "kiln-example")
	if err != nil {
		log.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "kiln.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		log.Fatal(err)
	}
	return st, func() { st.Close(); os.RemoveAll(dir) }
}

// quietLogger keeps the client's logs out of the examples' output.
var quietLogger = slog.New(slog.DiscardHandler)

// A worker, a client on an embedded SQLite file, and one job.
func Example() {
	st, cleanup := exampleStore()
	defer cleanup()

	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, &WelcomeWorker{From: "kiln@example.com"})
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: quietLogger})
	if err != nil {
		log.Fatal(err)
	}
	done, unsubscribe := client.Subscribe(kiln.EventJobCompleted)
	defer unsubscribe()
	if err := client.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(context.Background())

	if _, err := client.Enqueue(context.Background(), WelcomeArgs{Email: "ada@example.com"}, nil); err != nil {
		log.Fatal(err)
	}
	ev := <-done
	fmt.Println("job", ev.Job.ID, ev.Job.State)
	// Output:
	// kiln@example.com sends a welcome to ada@example.com
	// job 1 completed
}

// Delayed jobs wait in the scheduled state until their time.
func ExampleClient_Enqueue_delayed() {
	st, cleanup := exampleStore()
	defer cleanup()
	client, _ := kiln.NewClient(&kiln.Config{Store: st}) // enqueue-only: no Workers

	res, err := client.Enqueue(context.Background(), WelcomeArgs{Email: "bob@example.com"},
		&kiln.EnqueueOpts{RunIn: 10 * time.Minute, Queue: "email", Priority: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Job.State, res.Job.Queue, res.Job.Priority)
	// Output: scheduled email 2
}

// Unique jobs: while the first is not finished, the same args enqueue
// nothing and return the existing job.
func ExampleUniqueOpts() {
	st, cleanup := exampleStore()
	defer cleanup()
	client, _ := kiln.NewClient(&kiln.Config{Store: st})
	opts := &kiln.EnqueueOpts{Unique: &kiln.UniqueOpts{ByPeriod: time.Hour}}

	first, _ := client.Enqueue(context.Background(), WelcomeArgs{Email: "eve@example.com"}, opts)
	second, _ := client.Enqueue(context.Background(), WelcomeArgs{Email: "eve@example.com"}, opts)
	fmt.Println(first.UniqueSkipped, second.UniqueSkipped, first.Job.ID == second.Job.ID)
	// Output: false true true
}

// EnqueueMany stores many jobs in one transaction.
func ExampleClient_EnqueueMany() {
	st, cleanup := exampleStore()
	defer cleanup()
	client, _ := kiln.NewClient(&kiln.Config{Store: st})

	var batch []kiln.EnqueueParams
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		batch = append(batch, kiln.EnqueueParams{Args: WelcomeArgs{Email: email}})
	}
	results, err := client.EnqueueMany(context.Background(), batch)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(results), "jobs enqueued")
	// Output: 3 jobs enqueued
}

// Cancelling a job that has not started yet takes effect at once.
func ExampleClient_JobCancel() {
	st, cleanup := exampleStore()
	defer cleanup()
	client, _ := kiln.NewClient(&kiln.Config{Store: st})
	res, _ := client.Enqueue(context.Background(), WelcomeArgs{Email: "x@example.com"}, &kiln.EnqueueOpts{RunIn: time.Hour})

	job, err := client.JobCancel(context.Background(), res.Job.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.State)
	_, err = client.JobCancel(context.Background(), 12345)
	fmt.Println(errors.Is(err, kiln.ErrNotFound))
	// Output:
	// cancelled
	// true
}

// A worker ends retries with JobCancel, and postpones itself without using
// an attempt with JobSnooze.
func ExampleJobSnooze() {
	worker := kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[WelcomeArgs]) error {
		if job.Args.Email == "" {
			return kiln.JobCancel(errors.New("no address: retrying will not help"))
		}
		if job.Attempt == 1 && time.Now().Hour() < 8 {
			return kiln.JobSnooze(time.Hour) // too early to send mail
		}
		return nil
	})
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, worker)
	fmt.Println(workers.Kinds())
	// Output: [welcome_email]
}

// A continuation waits, pending, until its parent has ended.
func ExampleEnqueueOpts_continuation() {
	st, cleanup := exampleStore()
	defer cleanup()
	client, _ := kiln.NewClient(&kiln.Config{Store: st})
	parent, _ := client.Enqueue(context.Background(), WelcomeArgs{Email: "ada@example.com"}, nil)
	child, err := client.Enqueue(context.Background(), WelcomeArgs{Email: "bob@example.com"},
		&kiln.EnqueueOpts{Parents: []int64{parent.Job.ID}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(child.Job.State, kiln.ParentIDs(child.Job))
	// Output: pending [1]
}

type ReportArgs struct{}

func (ReportArgs) Kind() string { return "report" }

// A batch's callback runs once, after every job of the batch, and learns
// how they ended.
func ExampleClient_EnqueueBatch() {
	st, cleanup := exampleStore()
	defer cleanup()
	done := make(chan kiln.BatchOutcome, 1)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[WelcomeArgs]) error { return nil }))
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[ReportArgs]) error {
		outcome, _ := kiln.BatchOutcomeOf(job.JobRow)
		done <- outcome
		return nil
	}))
	client, _ := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: quietLogger})
	if err := client.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(context.Background())

	var jobs []kiln.EnqueueParams
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		jobs = append(jobs, kiln.EnqueueParams{Args: WelcomeArgs{Email: email}})
	}
	_, err := client.EnqueueBatch(context.Background(), jobs, &kiln.BatchOpts{ID: "welcome-wave", Callback: ReportArgs{}})
	if err != nil {
		log.Fatal(err)
	}
	o := <-done
	fmt.Printf("batch %s: %d of %d completed\n", o.BatchID, o.Completed, o.Total)
	// Output: batch welcome-wave: 3 of 3 completed
}

// A hosted service runs next to the jobs until the client stops.
func ExampleHostedService() {
	st, cleanup := exampleStore()
	defer cleanup()
	started := make(chan struct{})
	client, _ := kiln.NewClient(&kiln.Config{Store: st, Logger: quietLogger,
		HostedServices: []kiln.HostedService{{Name: "pinger", Run: func(ctx context.Context) error {
			close(started)
			<-ctx.Done() // a real service would loop, doing its work, until then
			return nil
		}}},
	})
	if err := client.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	<-started
	fmt.Println(client.HostedServices()[0].State)
	client.Stop(context.Background())
	fmt.Println(client.HostedServices()[0].State)
	// Output:
	// running
	// stopped
}

// A worker tells why its context ended with context.Cause: a timeout, a
// cancel request, a shutdown, or a lease lost to another process.
func Example_jobContextCause() {
	st, cleanup := exampleStore()
	defer cleanup()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[WelcomeArgs]) error {
		<-ctx.Done() // a mail server that never answers
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, kiln.ErrJobTimeout):
			fmt.Println("timed out; the job will be retried")
		case errors.Is(cause, kiln.ErrJobCancelRequested):
			fmt.Println("cancelled by a user")
		case errors.Is(cause, kiln.ErrShutdown), errors.Is(cause, kiln.ErrLeaseLost):
			fmt.Println("interrupted; the job will run again")
		}
		return ctx.Err()
	}))
	client, err := kiln.NewClient(&kiln.Config{
		Store: st, Workers: workers, Logger: quietLogger, JobTimeout: 10 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	failed, unsubscribe := client.Subscribe(kiln.EventJobFailed)
	defer unsubscribe()
	if err := client.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(context.Background())

	if _, err := client.Enqueue(context.Background(), WelcomeArgs{Email: "ada@example.com"}, nil); err != nil {
		log.Fatal(err)
	}
	ev := <-failed
	fmt.Println(ev.Attempt.Error)
	// Output:
	// timed out; the job will be retried
	// kiln: job timed out (context deadline exceeded)
}
