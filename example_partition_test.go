package kiln_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// TenantReportArgs are the args of a report job: its tenant is its partition key.
type TenantReportArgs struct {
	Tenant string `json:"tenant"`
}

func (TenantReportArgs) Kind() string        { return "tenant_report" }
func (a TenantReportArgs) Partition() string { return a.Tenant }

// TenantReportWorker runs at most one report per tenant at once, across every
// process sharing the store.
type TenantReportWorker struct {
	kiln.WorkerDefaults[TenantReportArgs]
	mu      sync.Mutex
	running map[string]int
	peak    int
	done    chan struct{}
}

func (w *TenantReportWorker) PartitionMaxConcurrency() int { return 1 }

func (w *TenantReportWorker) Work(ctx context.Context, job *kiln.Job[TenantReportArgs]) error {
	w.mu.Lock()
	w.running[job.Partition]++
	w.peak = max(w.peak, w.running[job.Partition])
	w.mu.Unlock()
	w.mu.Lock()
	w.running[job.Partition]--
	w.mu.Unlock()
	w.done <- struct{}{}
	return nil
}

// ExampleWorkerWithPartitionLimit runs reports of two tenants with at most
// one running per tenant: the key comes from the args' Partition method.
func ExampleWorkerWithPartitionLimit() {
	dir, _ := os.MkdirTemp("", "kiln-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "kiln.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		panic(err)
	}
	defer st.Close()

	w := &TenantReportWorker{running: map[string]int{}, done: make(chan struct{}, 6)}
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.Worker[TenantReportArgs](w))
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: quietLogger,
		Queues: map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: 10}}})
	if err != nil {
		panic(err)
	}
	for i := range 6 {
		res, err := client.Enqueue(ctx, TenantReportArgs{Tenant: []string{"acme", "globex"}[i%2]}, nil)
		if err != nil {
			panic(err)
		}
		if i < 2 {
			fmt.Println("job", i, "partition", res.Job.Partition)
		}
	}
	if err := client.Start(ctx); err != nil {
		panic(err)
	}
	defer client.Stop(ctx)
	for range 6 {
		<-w.done
	}
	fmt.Println("most reports of one tenant at once:", w.peak)
	// Output:
	// job 0 partition acme
	// job 1 partition globex
	// most reports of one tenant at once: 1
}
