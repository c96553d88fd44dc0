package kiln_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/kilnjobs/kiln"
)

// CountArgs are the args of a "count_words" job, which records how many
// words a file holds.
type CountArgs struct {
	File string `json:"file"`
}

func (CountArgs) Kind() string { return "count_words" }

// WordCount is the output of a count_words job.
type WordCount struct {
	Words int `json:"words"`
}

// TotalArgs are the args of the "total" continuation.
type TotalArgs struct{}

func (TotalArgs) Kind() string { return "total" }

// A worker records its result with SetOutput; it is stored with the job's
// completion, returned by JobGet, and read, typed, by the continuations
// that wait for the job.
func ExampleParentOutputs() {
	st, cleanup := exampleStore()
	defer cleanup()
	totals := make(chan int, 1)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[CountArgs]) error {
		words := map[string]int{"a.txt": 120, "b.txt": 80}[job.Args.File] // ... count them ...
		return job.SetOutput(WordCount{Words: words})
	}))
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[TotalArgs]) error {
		counts, err := kiln.ParentOutputs[WordCount](ctx, job) // by parent ID
		if err != nil {
			return err
		}
		total := 0
		for _, c := range counts {
			total += c.Words
		}
		totals <- total
		return job.SetOutput(WordCount{Words: total})
	}))
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: quietLogger,
		ScheduleInterval: 10 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer client.Stop(context.Background())

	ctx := context.Background()
	a, _ := client.Enqueue(ctx, CountArgs{File: "a.txt"}, nil)
	b, _ := client.Enqueue(ctx, CountArgs{File: "b.txt"}, nil)
	if _, err := client.Enqueue(ctx, TotalArgs{}, &kiln.EnqueueOpts{Parents: []int64{a.Job.ID, b.Job.ID}}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("total words:", <-totals)
	job, err := client.JobGet(ctx, a.Job.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("output of a.txt:", string(job.Output))
	// Output:
	// total words: 200
	// output of a.txt: {"words":120}
}
