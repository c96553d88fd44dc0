package kiln_test

import (
	"context"
	"fmt"
	"log"

	"github.com/kilnjobs/kiln"
)

// runPool enqueues 3 jobs into "low", then 3 into "critical", runs them
// through a pool of one worker (so that they start one at a time) and
// prints the queue of each job as it starts.
func runPool(strict bool) {
	st, cleanup := exampleStore()
	defer cleanup()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[WelcomeArgs]) error {
		fmt.Println(job.Queue, job.Args.Email)
		return nil
	}))
	client, err := kiln.NewClient(&kiln.Config{
		Store: st, Workers: workers, Logger: quietLogger,
		MaxWorkers:     1, // the pool the queues share
		StrictPriority: strict,
		Queues: map[string]kiln.QueueConfig{
			"critical": {Weight: 2},
			"low":      {Weight: 1},
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	var params []kiln.EnqueueParams
	for _, queue := range []string{"low", "critical"} {
		for _, who := range []string{"ada", "bob", "cy"} {
			params = append(params, kiln.EnqueueParams{Args: WelcomeArgs{Email: who}, Opts: &kiln.EnqueueOpts{Queue: queue}})
		}
	}
	if _, err := client.EnqueueMany(ctx, params); err != nil {
		log.Fatal(err)
	}
	done, unsubscribe := client.Subscribe(kiln.EventJobCompleted)
	defer unsubscribe()
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)
	for range params {
		<-done
	}
}

// Queues of a process can share one pool of workers (Config.MaxWorkers) by
// weight: while both queues have jobs waiting, "critical" (weight 2) gets 2
// of every 3 slots that free up and "low" (weight 1) the third, so "low" is
// never starved; once "critical" has nothing waiting, "low" gets every slot.
func ExampleConfig_queueWeights() {
	runPool(false)
	// Output:
	// critical ada
	// low ada
	// critical bob
	// critical cy
	// low bob
	// low cy
}

// With StrictPriority, the queue of the highest weight always comes first:
// "low" starts nothing while "critical" has a job due.
func ExampleConfig_strictPriority() {
	runPool(true)
	// Output:
	// critical ada
	// critical bob
	// critical cy
	// low ada
	// low bob
	// low cy
}
