package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// replacing returns a param with unique key "debounce", args {"n": n},
// replacing what r says.
func replacing(n int, r store.UniqueReplace, mods ...jobMod) *store.JobInsertParams {
	return params(append([]jobMod{uniqueKey("debounce"), func(p *store.JobInsertParams) {
		p.Args = json.RawMessage(fmt.Sprintf(`{"n": %d}`, n))
		p.UniqueReplace = r
	}}, mods...)...)
}

// argsN returns n of args {"n": n}.
func argsN(t *testing.T, args json.RawMessage) int {
	t.Helper()
	var a struct{ N int }
	if err := json.Unmarshal(args, &a); err != nil {
		t.Fatalf("args %s: %v", args, err)
	}
	return a.N
}

func testUniqueReplace(t *testing.T, newStore NewStoreFunc) {
	both := store.UniqueReplace{Args: true, Schedule: true}

	t.Run("ReplacesAWaitingJob", func(t *testing.T) {
		f := newFixture(t, newStore)
		first := f.insertMany(replacing(1, both))[0]
		if first.UniqueSkipped || first.UniqueReplaced {
			t.Fatalf("first insert: %+v", first)
		}
		later := base.Add(time.Hour)
		res := f.insertMany(replacing(2, both, scheduled(later)))[0]
		if !res.UniqueSkipped || !res.UniqueReplaced || res.Job.ID != first.Job.ID {
			t.Fatalf("replacing insert: skipped %v, replaced %v, job %d; want the first job %d replaced",
				res.UniqueSkipped, res.UniqueReplaced, res.Job.ID, first.Job.ID)
		}
		got := f.get(first.Job.ID)
		if argsN(t, got.Args) != 2 || got.State != kilntype.JobStateScheduled || !got.ScheduledAt.Equal(later) {
			t.Fatalf("job after replace: args %s, %s at %v; want n 2, scheduled at %v", got.Args, got.State, got.ScheduledAt, later)
		}
		if argsN(t, res.Job.Args) != 2 || res.Job.State != kilntype.JobStateScheduled {
			t.Fatalf("result's job: args %s, %s", res.Job.Args, res.Job.State)
		}
		// Args only: the schedule stays.
		res = f.insertMany(replacing(3, store.UniqueReplace{Args: true}))[0]
		got = f.get(first.Job.ID)
		if !res.UniqueReplaced || argsN(t, got.Args) != 3 || got.State != kilntype.JobStateScheduled || !got.ScheduledAt.Equal(later) {
			t.Fatalf("args-only replace: replaced %v, job %s %s at %v", res.UniqueReplaced, got.Args, got.State, got.ScheduledAt)
		}
		// Schedule only, back to now: available again, args kept.
		res = f.insertMany(replacing(4, store.UniqueReplace{Schedule: true}))[0]
		got = f.get(first.Job.ID)
		if !res.UniqueReplaced || argsN(t, got.Args) != 3 || got.State != kilntype.JobStateAvailable || !got.ScheduledAt.Equal(base) {
			t.Fatalf("schedule-only replace: replaced %v, job %s %s at %v", res.UniqueReplaced, got.Args, got.State, got.ScheduledAt)
		}
		// Without Replace: skipped, unchanged.
		res = f.insertMany(replacing(5, store.UniqueReplace{}))[0]
		if !res.UniqueSkipped || res.UniqueReplaced || argsN(t, f.get(first.Job.ID).Args) != 3 {
			t.Fatalf("insert without replace: %+v, args %s", res, f.get(first.Job.ID).Args)
		}
	})

	// A job's partition key comes with its args (EnqueueOpts.Partition or
	// the args' Partitioner): replacing the args replaces the key, and a
	// claim by key then counts the job under its new key (it used to keep
	// the old one: another tenant's args counted against the first's
	// limits). Replacing the schedule alone keeps the key.
	t.Run("ArgsCarryTheirPartition", func(t *testing.T) {
		f := newFixture(t, newStore)
		args := store.UniqueReplace{Args: true}
		a := f.insertMany(replacing(1, args, partition("a")))[0].Job
		b := f.insertMany(replacing(3, args, partition("c"), uniqueKey("other")))[0].Job
		res := f.insertMany(replacing(2, args, partition("b")), replacing(4, args, uniqueKey("other")))
		if !res[0].UniqueReplaced || res[0].Job.Partition != "b" || !res[1].UniqueReplaced || res[1].Job.Partition != "" {
			t.Fatalf("results: replaced %v key %q, replaced %v key %q; want keys b and none",
				res[0].UniqueReplaced, res[0].Job.Partition, res[1].UniqueReplaced, res[1].Job.Partition)
		}
		if ga, gb := f.get(a.ID), f.get(b.ID); ga.Partition != "b" || gb.Partition != "" {
			t.Fatalf("stored keys %q and %q; want b and none", ga.Partition, gb.Partition)
		}
		res = f.insertMany(replacing(5, store.UniqueReplace{Schedule: true}, partition("z")))
		if !res[0].UniqueReplaced || f.get(a.ID).Partition != "b" || argsN(t, f.get(a.ID).Args) != 2 {
			t.Fatalf("schedule-only replace: replaced %v, key %q, args %s; want key b and args n 2 kept",
				res[0].UniqueReplaced, f.get(a.ID).Partition, f.get(a.ID).Args)
		}
		claim := partitioned(10, 1)
		claim.Kinds = []string{"noop"}
		claim.Partitioned = map[string]store.PartitionClaim{"noop": {MaxRunning: 1}}
		got := perKey(f.claim(claim))
		if len(got) != 2 || got["b"] != 1 || got[""] != 1 {
			t.Fatalf("claim by key took %v; want one job of key b and one without a key", got)
		}
	})

	t.Run("RetryableStaysRetryable", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.retryable(base.Add(time.Hour), uniqueKey("debounce"))
		at := base.Add(2 * time.Hour)
		res := f.insertMany(replacing(9, both, scheduled(at)))[0]
		got := f.get(job.ID)
		if !res.UniqueReplaced || got.State != kilntype.JobStateRetryable || !got.ScheduledAt.Equal(at) || argsN(t, got.Args) != 9 {
			t.Fatalf("replaced retryable job: replaced %v, %s at %v, args %s", res.UniqueReplaced, got.State, got.ScheduledAt, got.Args)
		}
	})

	t.Run("RunningIsLeftAlone", func(t *testing.T) {
		f := newFixture(t, newStore)
		running := f.running(uniqueKey("debounce"))
		res := f.insertMany(replacing(7, both))[0]
		if !res.UniqueSkipped || res.UniqueReplaced || res.Job.ID != running.ID {
			t.Fatalf("insert over a running job: %+v", res)
		}
		if got := f.get(running.ID); got.State != kilntype.JobStateRunning || string(got.Args) == `{"n": 7}` {
			t.Fatalf("running job changed: %s %s", got.State, got.Args)
		}
	})

	t.Run("PendingIsLeftAlone", func(t *testing.T) {
		f := newFixture(t, newStore)
		p := f.insert(pending(), uniqueKey("debounce"))
		res := f.insertMany(replacing(7, both))[0]
		if !res.UniqueSkipped || res.UniqueReplaced || f.get(p.ID).State != kilntype.JobStatePending {
			t.Fatalf("insert over a pending job: %+v", res)
		}
	})

	t.Run("SameCallLastWins", func(t *testing.T) {
		f := newFixture(t, newStore)
		res := f.insertMany(replacing(1, both), replacing(2, both), replacing(3, both))
		if res[0].UniqueSkipped || !res[1].UniqueReplaced || !res[2].UniqueReplaced {
			t.Fatalf("results: %+v", res)
		}
		if got := argsN(t, f.get(res[0].Job.ID).Args); got != 3 {
			t.Fatalf("args n = %d, want the last param's 3", got)
		}
	})

	// Rows of one call that replace different fields of one job fold in
	// their order, as the same rows in calls of their own: the args of the
	// last row that replaces args, the schedule of the last that replaces
	// the schedule (PostgreSQL used to apply the last row's fields alone).
	t.Run("SameCallFoldsFields", func(t *testing.T) {
		f := newFixture(t, newStore)
		first := f.insertMany(replacing(0, store.UniqueReplace{}, partition("a")))[0].Job
		later := base.Add(time.Hour)
		res := f.insertMany(
			replacing(1, store.UniqueReplace{Args: true}, partition("b")),
			replacing(2, store.UniqueReplace{Schedule: true}, scheduled(later), partition("z")),
			replacing(3, store.UniqueReplace{}))
		if !res[0].UniqueReplaced || !res[1].UniqueReplaced || res[2].UniqueReplaced {
			t.Fatalf("results: replaced %v, %v, %v; want true, true, false",
				res[0].UniqueReplaced, res[1].UniqueReplaced, res[2].UniqueReplaced)
		}
		got := f.get(first.ID)
		if argsN(t, got.Args) != 1 || got.Partition != "b" || got.State != kilntype.JobStateScheduled || !got.ScheduledAt.Equal(later) {
			t.Fatalf("job: args %s key %q, %s at %v; want n 1 key b (the args row's), scheduled at %v (the schedule row's)",
				got.Args, got.Partition, got.State, got.ScheduledAt, later)
		}
		// Each result holds the job as it is after its own row.
		if r := res[0].Job; argsN(t, r.Args) != 1 || r.Partition != "b" || r.State != kilntype.JobStateAvailable {
			t.Errorf("result 0's job: args %s key %q, %s; want n 1 key b, still available", r.Args, r.Partition, r.State)
		}
		if r := res[1].Job; argsN(t, r.Args) != 1 || r.State != kilntype.JobStateScheduled || !r.ScheduledAt.Equal(later) {
			t.Errorf("result 1's job: args %s, %s at %v; want n 1, scheduled at %v", r.Args, r.State, r.ScheduledAt, later)
		}
	})

	// Concurrent replacing inserts of one key: one job, one insert, every
	// other call replaced it, and its args are one call's.
	t.Run("Concurrent", func(t *testing.T) {
		f := newFixture(t, newStore)
		const n = 16
		results := make([]store.JobInsertResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				res, err := f.s.JobInsertMany(f.ctx, []*store.JobInsertParams{replacing(i, both)})
				if err == nil {
					results[i] = res[0]
				}
				errs[i] = err
			}()
		}
		close(start)
		wg.Wait()
		inserted, replaced := 0, 0
		var id int64
		for i, r := range results {
			if errs[i] != nil {
				t.Fatalf("insert %d: %v", i, errs[i])
			}
			switch {
			case !r.UniqueSkipped:
				inserted++
			case r.UniqueReplaced:
				replaced++
			}
			if id != 0 && r.Job.ID != id {
				t.Fatalf("insert %d returned job %d, another %d", i, r.Job.ID, id)
			}
			id = r.Job.ID
		}
		if inserted != 1 || replaced != n-1 {
			t.Fatalf("%d inserted, %d replaced; want 1 and %d", inserted, replaced, n-1)
		}
		jobs := f.list(&store.JobListParams{})
		if len(jobs) != 1 {
			t.Fatalf("%d jobs stored, want 1", len(jobs))
		}
		if got := argsN(t, f.get(id).Args); got < 0 || got >= n {
			t.Fatalf("args n = %d, not one of the calls'", got)
		}
	})
}
