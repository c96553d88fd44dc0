package kiln_test

import (
	"context"
	"fmt"
	"log"

	"github.com/kilnjobs/kiln"
)

// ImportArgs are the args of a long "import" job.
type ImportArgs struct {
	Rows int `json:"rows"`
}

func (ImportArgs) Kind() string { return "import" }

// A worker reports its progress (a percentage) and log lines while it runs;
// the dashboard and JobLogs show them. Reports are coalesced and written
// in the background, at the latest when Work returns.
func ExampleJob_Progress() {
	st, cleanup := exampleStore()
	defer cleanup()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[ImportArgs]) error {
		for done := 0; done < job.Args.Rows; done += 50 {
			// ... import 50 rows ...
			job.Logf(ctx, "imported rows %d to %d", done+1, done+50)
			job.Progress(ctx, (done+50)*100/job.Args.Rows)
		}
		return nil
	}))
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

	res, err := client.Enqueue(context.Background(), ImportArgs{Rows: 100}, nil)
	if err != nil {
		log.Fatal(err)
	}
	<-done
	job, err := client.JobGet(context.Background(), res.Job.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s at %d%%\n", job.State, *job.Progress)
	lines, err := client.JobLogs(context.Background(), res.Job.ID, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range lines {
		fmt.Println(l.Seq, l.Message)
	}
	// Output:
	// completed at 100%
	// 1 imported rows 1 to 50
	// 2 imported rows 51 to 100
}
