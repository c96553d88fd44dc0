package kiln_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/store"
)

type reindexArgs struct {
	User string `json:"user"`
	Rev  int    `json:"rev"`
}

func (reindexArgs) Kind() string { return "reindex" }

// rev decodes the Rev of reindex args (PostgreSQL's jsonb reorders keys).
func rev(t *testing.T, args []byte) int {
	t.Helper()
	var a reindexArgs
	if err := json.Unmarshal(args, &a); err != nil {
		t.Fatalf("args %s: %v", args, err)
	}
	return a.Rev
}

// TestUniqueReplaceDebounce: enqueues with a unique Key and Replace push
// the waiting job's time and args forward (debounce); the results say
// which enqueue inserted and which replaced; a Key matches whatever the
// args; Replace is refused on a continuation.
func TestUniqueReplaceDebounce(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		clock := kilntest.NewClock(testBase)
		c, err := kiln.NewClient(&kiln.Config{Store: st, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		debounce := func(rev int) *kiln.EnqueueResult {
			t.Helper()
			res, err := c.Enqueue(ctx, reindexArgs{User: "u1", Rev: rev}, &kiln.EnqueueOpts{RunIn: 5 * time.Second,
				Unique: &kiln.UniqueOpts{Key: "reindex:u1", Replace: kiln.UniqueReplace{Args: true, Schedule: true}}})
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		first := debounce(1)
		if first.UniqueSkipped || first.UniqueReplaced || first.Job.State != kiln.JobStateScheduled {
			t.Fatalf("first enqueue: skipped %v, replaced %v, %s", first.UniqueSkipped, first.UniqueReplaced, first.Job.State)
		}
		clock.Advance(3 * time.Second)
		second := debounce(2)
		if !second.UniqueSkipped || !second.UniqueReplaced || second.Job.ID != first.Job.ID {
			t.Fatalf("second enqueue: skipped %v, replaced %v, job %d; want job %d replaced",
				second.UniqueSkipped, second.UniqueReplaced, second.Job.ID, first.Job.ID)
		}
		got, err := c.JobGet(ctx, first.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := testBase.Add(8 * time.Second); !got.ScheduledAt.Equal(want) || rev(t, got.Args) != 2 {
			t.Fatalf("job after debounce: due %v with args %s; want %v with rev 2", got.ScheduledAt, got.Args, want)
		}
		// Without Replace, a Key match leaves the job alone.
		res, err := c.Enqueue(ctx, reindexArgs{User: "u1", Rev: 3}, &kiln.EnqueueOpts{Unique: &kiln.UniqueOpts{Key: "reindex:u1"}})
		if err != nil {
			t.Fatal(err)
		}
		if !res.UniqueSkipped || res.UniqueReplaced || rev(t, res.Job.Args) != 2 {
			t.Fatalf("enqueue without Replace: skipped %v, replaced %v, args %s", res.UniqueSkipped, res.UniqueReplaced, res.Job.Args)
		}
		_, err = c.Enqueue(ctx, reindexArgs{User: "u2"}, &kiln.EnqueueOpts{Parents: []int64{first.Job.ID},
			Unique: &kiln.UniqueOpts{Key: "k", Replace: kiln.UniqueReplace{Args: true}}})
		wantInvalid(t, "Replace on a continuation", err, "unique.replace")
	})
}
