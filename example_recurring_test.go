package kiln_test

import (
	"context"
	"fmt"
	"log"

	"github.com/kilnjobs/kiln"
)

// NightlyReportArgs are the args of the nightly report's jobs.
type NightlyReportArgs struct {
	Format string `json:"format"`
}

func (NightlyReportArgs) Kind() string { return "nightly_report" }

// Recurring jobs are defined in Config.Recurring: Start stores each entry,
// and the elected leader enqueues a job at every occurrence of its
// schedule (cron syntax, "@daily", "@every 10m", ...), at most once per
// occurrence across processes. RecurringTrigger runs an entry now, outside
// its schedule.
func ExampleRecurringJob() {
	st, cleanup := exampleStore()
	defer cleanup()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[NightlyReportArgs]) error {
		fmt.Println("report in", job.Args.Format)
		return nil
	}))
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: quietLogger,
		Recurring: []kiln.RecurringJob{{
			ID:       "nightly-report",
			Schedule: "30 2 * * *", // 02:30 every day
			TimeZone: "Europe/Paris",
			Args:     NightlyReportArgs{Format: "pdf"},
			// Overlap's default skips an occurrence while the previous
			// one's job is unfinished.
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	done, unsubscribe := client.Subscribe(kiln.EventJobCompleted)
	defer unsubscribe()
	if err := client.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(context.Background())

	entry, err := client.RecurringGet(context.Background(), "nightly-report")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(entry.ID, entry.Schedule, entry.TimeZone, entry.Overlap)
	if _, err := client.RecurringTrigger(context.Background(), "nightly-report"); err != nil {
		log.Fatal(err)
	}
	<-done
	// Output:
	// nightly-report 30 2 * * * Europe/Paris skip
	// report in pdf
}
