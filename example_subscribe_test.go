package kiln_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/kilnjobs/kiln"
)

// noWait retries at once, to keep the example short.
type noWait struct{}

func (noWait) Backoff(int) time.Duration { return 0 }

// Subscribe delivers the events of the jobs this client runs (started,
// failed, completed, ...) on a channel, for as long as the subscription
// lasts. Here a job fails once and succeeds when retried.
func ExampleClient_Subscribe() {
	st, cleanup := exampleStore()
	defer cleanup()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[WelcomeArgs]) error {
		if job.Attempt == 1 {
			return errors.New("mail server busy")
		}
		return nil
	}))
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: quietLogger, RetryPolicy: noWait{}})
	if err != nil {
		log.Fatal(err)
	}
	events, unsubscribe := client.Subscribe(kiln.EventJobStarted, kiln.EventJobFailed, kiln.EventJobCompleted)
	defer unsubscribe()
	if err := client.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(context.Background())

	if _, err := client.Enqueue(context.Background(), WelcomeArgs{Email: "ada@example.com"}, nil); err != nil {
		log.Fatal(err)
	}
	for ev := range events {
		if ev.Kind == kiln.EventJobFailed {
			fmt.Printf("%s attempt %d: %s\n", ev.Kind, ev.Job.Attempt, ev.Job.LastError)
			continue
		}
		fmt.Println(ev.Kind, "attempt", ev.Job.Attempt)
		if ev.Kind == kiln.EventJobCompleted {
			break
		}
	}
	// Output:
	// job_started attempt 1
	// job_failed attempt 1: mail server busy
	// job_started attempt 2
	// job_completed attempt 2
}
