package kiln_test

import (
	"context"
	"fmt"
	"log"

	"github.com/kilnjobs/kiln"
)

// JobList reads jobs newest first, a page at a time: each page's
// NextCursor is the Cursor of the next (keyset pagination: no page is
// skipped or repeated while jobs are added), and 0 after the last page.
func ExampleClient_JobList() {
	st, cleanup := exampleStore()
	defer cleanup()
	client, _ := kiln.NewClient(&kiln.Config{Store: st}) // enqueue-only
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"} {
		if _, err := client.Enqueue(context.Background(), WelcomeArgs{Email: email}, nil); err != nil {
			log.Fatal(err)
		}
	}

	params := &kiln.JobListParams{Kinds: []string{"welcome_email"}, Limit: 2}
	for page := 1; ; page++ {
		res, err := client.JobList(context.Background(), params)
		if err != nil {
			log.Fatal(err)
		}
		var ids []int64
		for _, job := range res.Jobs {
			ids = append(ids, job.ID)
		}
		fmt.Println("page", page, ids)
		if res.NextCursor == 0 {
			break
		}
		params.Cursor = res.NextCursor
	}
	// Output:
	// page 1 [5 4]
	// page 2 [3 2]
	// page 3 [1]
}
