package kiln_test

import (
	"context"
	"fmt"
	"log"
	"sync"
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

// TenantSyncArgs syncs one tenant's data with a partner API that allows
// each tenant one call a minute: the tenant is the job's partition key.
type TenantSyncArgs struct {
	Tenant string `json:"tenant"`
}

func (TenantSyncArgs) Kind() string        { return "tenant_sync" }
func (a TenantSyncArgs) Partition() string { return a.Tenant }

// TenantSyncWorker declares the allowance of each tenant
// (kiln.WorkerWithPartitionRateLimit): every process sharing the store
// obeys one budget per tenant.
type TenantSyncWorker struct {
	kiln.WorkerDefaults[TenantSyncArgs]
	mu      sync.Mutex
	started map[string]int
}

func (w *TenantSyncWorker) Work(ctx context.Context, job *kiln.Job[TenantSyncArgs]) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.started[job.Args.Tenant]++
	return nil
}

// PartitionRateLimit allows each tenant one start per minute.
func (*TenantSyncWorker) PartitionRateLimit() kiln.RateLimit {
	return kiln.RateLimit{Limit: 1, Period: time.Minute}
}

// A kind rate limited per key starts at most each key's budget: a tenant
// over its budget keeps its jobs available while the other tenants' jobs
// start; an operator can change the limit of every key at run time.
func ExampleWorkerWithPartitionRateLimit() {
	st, cleanup := exampleStore()
	defer cleanup()
	w := &TenantSyncWorker{started: map[string]int{}}
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.Worker[TenantSyncArgs](w))
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: quietLogger})
	if err != nil {
		log.Fatal(err)
	}
	done, unsubscribe := client.Subscribe(kiln.EventJobCompleted)
	defer unsubscribe()
	ctx := context.Background()
	for _, tenant := range []string{"acme", "acme", "acme", "globex"} {
		if _, err := client.Enqueue(ctx, TenantSyncArgs{Tenant: tenant}, nil); err != nil {
			log.Fatal(err)
		}
	}
	if err := client.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(ctx)
	<-done
	<-done // one job of each tenant; acme's other two wait for its next slot
	w.mu.Lock()
	fmt.Printf("started: acme %d, globex %d\n", w.started["acme"], w.started["globex"])
	w.mu.Unlock()

	st2, err := client.RateLimitGet(ctx, "tenant_sync", true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("per-key limit %v, busiest key's next slot within 1m: %v\n", st2.Limit,
		st2.NextSlot.Sub(st2.At) <= time.Minute)

	// An operator raises every tenant's limit at run time.
	if err := client.RateLimitSet(ctx, "tenant_sync", true, kiln.RateLimit{Limit: 100, Period: time.Second, Burst: 10}); err != nil {
		log.Fatal(err)
	}
	<-done
	<-done
	fmt.Println("all 4 done")
	// Output:
	// started: acme 1, globex 1
	// per-key limit 1/1m0s, busiest key's next slot within 1m: true
	// all 4 done
}
