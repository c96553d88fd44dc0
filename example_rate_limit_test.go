package kiln_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/kilnjobs/kiln"
)

// GeocodeArgs asks a third-party API, which allows 2 calls a minute, to
// geocode an address.
type GeocodeArgs struct {
	Address string `json:"address"`
}

func (GeocodeArgs) Kind() string { return "geocode" }

// GeocodeWorker declares the API's allowance as its kind's rate limit
// (kiln.RateLimiter): every process sharing the store obeys one budget.
type GeocodeWorker struct {
	kiln.WorkerDefaults[GeocodeArgs]
}

func (GeocodeWorker) Work(ctx context.Context, job *kiln.Job[GeocodeArgs]) error { return nil }

// RateLimit allows 2 starts per minute, both at once after an idle spell
// (Burst 1: one more than the steady rate of one per 30 s).
func (GeocodeWorker) RateLimit() kiln.RateLimit {
	return kiln.RateLimit{Limit: 2, Period: time.Minute, Burst: 1}
}

// A rate-limited kind starts at most its budget: the jobs over it stay
// available, unclaimed, until the budget's next slot, which the client
// shows; an operator can change the limit at run time.
func ExampleRateLimiter() {
	st, cleanup := exampleStore()
	defer cleanup()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, GeocodeWorker{})
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: quietLogger})
	if err != nil {
		log.Fatal(err)
	}
	done, unsubscribe := client.Subscribe(kiln.EventJobCompleted)
	defer unsubscribe()
	ctx := context.Background()
	for _, a := range []string{"1 Main St", "2 Main St", "3 Main St", "4 Main St"} {
		if _, err := client.Enqueue(ctx, GeocodeArgs{Address: a}, nil); err != nil {
			log.Fatal(err)
		}
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)
	<-done
	<-done // Burst+1 = 2 start at once; the others wait for a slot

	st2, err := client.RateLimitGet(ctx, "geocode", false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("limit %v, %d of %d used, next slot within 30s: %v\n", st2.Limit, st2.Used,
		st2.Limit.Burst+1, st2.NextSlot.Sub(st2.At) <= 30*time.Second)

	// An operator raises the limit at run time: it beats the worker's
	// default until removed (RateLimitRemove).
	if err := client.RateLimitSet(ctx, "geocode", false, kiln.RateLimit{Limit: 100, Period: time.Second, Burst: 10}); err != nil {
		log.Fatal(err)
	}
	<-done
	<-done
	fmt.Println("all 4 done")
	// Output:
	// limit 2/1m0s+1, 2 of 2 used, next slot within 30s: true
	// all 4 done
}
