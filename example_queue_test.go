package kiln_test

import (
	"context"
	"fmt"
	"log"

	"github.com/kilnjobs/kiln"
)

// A paused queue keeps its jobs but no process claims them until it is
// resumed; jobs already running go on. The pause is stored, so it holds
// for every process on the database, and across restarts.
func ExampleClient_QueuePause() {
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
	ctx := context.Background()
	if err := client.QueuePause(ctx, kiln.QueueDefault); err != nil {
		log.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)
	if _, err := client.Enqueue(ctx, WelcomeArgs{Email: "ada@example.com"}, nil); err != nil {
		log.Fatal(err)
	}

	queues, err := client.QueueList(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range queues {
		fmt.Printf("%s: paused %v, %d available\n", q.Name, q.Paused, q.Available)
	}
	if err := client.QueueResume(ctx, kiln.QueueDefault); err != nil {
		log.Fatal(err)
	}
	<-done
	// Output:
	// default: paused true, 1 available
	// kiln@example.com sends a welcome to ada@example.com
}
