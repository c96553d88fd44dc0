package kiln_test

import (
	"context"
	"fmt"
	"log"

	"github.com/kilnjobs/kiln"
)

// DigestArgs builds one customer's digest; the customer is the job's
// partition key.
type DigestArgs struct {
	Customer string `json:"customer"`
}

func (DigestArgs) Kind() string                 { return "digest" }
func (a DigestArgs) Partition() string          { return a.Customer }
func (DigestWorker) MaxConcurrency() int        { return 2 } // in each process
func (DigestWorker) ClusterMaxConcurrency() int { return 4 } // in every process together

// PartitionMaxConcurrency lets one digest per customer run at once.
func (DigestWorker) PartitionMaxConcurrency() int { return 1 }

// DigestWorker holds each digest until release is closed.
type DigestWorker struct {
	kiln.WorkerDefaults[DigestArgs]
	release chan struct{}
}

func (w DigestWorker) Work(ctx context.Context, job *kiln.Job[DigestArgs]) error {
	<-w.release
	return nil
}

// Client.ConcurrencyLimits shows each kind's concurrency limits, declared
// in code, and their use: running jobs in every process, in this one, and
// per partition key.
func ExampleClient_ConcurrencyLimits() {
	st, cleanup := exampleStore()
	defer cleanup()
	release := make(chan struct{})
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, DigestWorker{release: release})
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: quietLogger})
	if err != nil {
		log.Fatal(err)
	}
	started, unsubscribe := client.Subscribe(kiln.EventJobStarted)
	defer unsubscribe()
	ctx := context.Background()
	for _, c := range []string{"acme", "acme", "globex"} {
		if _, err := client.Enqueue(ctx, DigestArgs{Customer: c}, nil); err != nil {
			log.Fatal(err)
		}
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)
	defer close(release)
	<-started
	<-started // acme's second digest waits for its first

	limits, err := client.ConcurrencyLimits(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range limits {
		fmt.Printf("%s: %d running, %d here (at most %d per process, %d in the cluster, %d per key)\n",
			l.Kind, l.Running, l.RunningHere, l.MaxConcurrency, l.ClusterMaxConcurrency, l.PartitionMaxConcurrency)
		for _, k := range l.BusiestKeys {
			fmt.Printf("  %s: %d\n", k.Key, k.Running)
		}
	}
	// Output:
	// digest: 2 running, 2 here (at most 2 per process, 4 in the cluster, 1 per key)
	//   acme: 1
	//   globex: 1
}
