package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func testInsert(t *testing.T, newStore NewStoreFunc) {
	t.Run("ReturnsStoredRow", func(t *testing.T) {
		f := newFixture(t, newStore)
		// A non-UTC time with nanoseconds: the store keeps microseconds, UTC.
		local := time.FixedZone("UTC+5", 5*3600)
		p := &store.JobInsertParams{
			Kind:        "email",
			Queue:       "mail",
			Args:        json.RawMessage(`{"to":"a@example.com","n":[1,2]}`),
			Priority:    2,
			MaxAttempts: 5,
			State:       kilntype.JobStateScheduled,
			ScheduledAt: base.Add(time.Hour).In(local).Add(789 * time.Nanosecond),
			CreatedAt:   base.In(local).Add(999 * time.Nanosecond),
			Tags:        []string{"a", "b"},
			Metadata:    json.RawMessage(`{"trace":"x"}`),
			UniqueKey:   "email:a",
		}
		res := f.insertMany(p)
		got := res[0].Job
		if res[0].UniqueSkipped {
			t.Error("UniqueSkipped = true, want false")
		}
		if got.ID <= 0 {
			t.Errorf("ID = %d, want > 0", got.ID)
		}
		want := &kilntype.JobRow{
			ID: got.ID, Kind: "email", Queue: "mail", Args: p.Args,
			State: kilntype.JobStateScheduled, Priority: 2, Attempt: 0, MaxAttempts: 5,
			CreatedAt: base, ScheduledAt: base.Add(time.Hour),
			Tags: []string{"a", "b"}, Metadata: p.Metadata, UniqueKey: "email:a",
		}
		wantSameJob(t, got, want)
		wantSameJob(t, f.get(got.ID), want)
	})

	t.Run("AppliesNoDefaults", func(t *testing.T) {
		f := newFixture(t, newStore)
		p := params(pending(), priority(4), maxAttempts(1), queue(""))
		p.Args = json.RawMessage(`[]`)
		job := f.insertMany(p)[0].Job
		for _, j := range []*kilntype.JobRow{job, f.get(job.ID)} {
			if j.Queue != "" || j.Priority != 4 || j.MaxAttempts != 1 || j.Attempt != 0 {
				t.Errorf("Queue, Priority, MaxAttempts, Attempt = %q, %d, %d, %d; want \"\", 4, 1, 0",
					j.Queue, j.Priority, j.MaxAttempts, j.Attempt)
			}
			wantState(t, j, kilntype.JobStatePending)
			wantJSON(t, "Args", j.Args, []byte(`[]`))
		}
	})

	t.Run("NilMetadataAndTags", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.insert()
		for _, j := range []*kilntype.JobRow{job, f.get(job.ID)} {
			wantJSON(t, "Metadata", j.Metadata, []byte(`{}`))
			if len(j.Tags) != 0 {
				t.Errorf("Tags = %q, want none", j.Tags)
			}
		}
	})

	t.Run("IDsIncreaseInOrder", func(t *testing.T) {
		f := newFixture(t, newStore)
		first := f.insertN(3, kind("first"))
		second := f.insertN(2, kind("second"))
		all := append(first, second...)
		for i, j := range all {
			if i > 0 && j.ID <= all[i-1].ID {
				t.Errorf("IDs %v do not increase", ids(all))
			}
		}
		for i, k := range []string{"first", "first", "first", "second", "second"} {
			if all[i].Kind != k {
				t.Errorf("result %d: Kind = %q, want %q (results out of order)", i, all[i].Kind, k)
			}
		}
	})

	t.Run("Empty", func(t *testing.T) {
		f := newFixture(t, newStore)
		res, err := f.s.JobInsertMany(f.ctx, nil)
		if err != nil || len(res) != 0 {
			t.Errorf("JobInsertMany(nil) = %v, %v; want no results, nil", res, err)
		}
	})

	t.Run("UniqueSkippedWhileNotFinal", func(t *testing.T) {
		for _, state := range []kilntype.JobState{
			kilntype.JobStatePending, kilntype.JobStateScheduled, kilntype.JobStateAvailable,
			kilntype.JobStateRunning, kilntype.JobStateRetryable,
		} {
			t.Run(string(state), func(t *testing.T) {
				f := newFixture(t, newStore)
				first := f.inState(state, uniqueKey("k"))
				res := f.insertMany(params(uniqueKey("k"), kind("other")))
				if !res[0].UniqueSkipped {
					t.Fatal("UniqueSkipped = false, want true")
				}
				wantSameJob(t, res[0].Job, f.get(first.ID))
				if n := len(f.list(&store.JobListParams{})); n != 1 {
					t.Errorf("%d jobs stored, want 1", n)
				}
			})
		}
	})

	t.Run("UniqueInsertedAgainWhenFinal", func(t *testing.T) {
		for _, state := range []kilntype.JobState{
			kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded,
		} {
			t.Run(string(state), func(t *testing.T) {
				f := newFixture(t, newStore)
				first := f.inState(state, uniqueKey("k"))
				res := f.insertMany(params(uniqueKey("k")))
				if res[0].UniqueSkipped {
					t.Fatal("UniqueSkipped = true, want false")
				}
				if res[0].Job.ID == first.ID || res[0].Job.UniqueKey != "k" {
					t.Errorf("inserted job %d with key %q, want a new job with key k", res[0].Job.ID, res[0].Job.UniqueKey)
				}
				// The new job holds the key again.
				if res := f.insertMany(params(uniqueKey("k"))); !res[0].UniqueSkipped {
					t.Error("third insert: UniqueSkipped = false, want true")
				}
			})
		}
	})

	t.Run("UniqueWithinOneCall", func(t *testing.T) {
		f := newFixture(t, newStore)
		res := f.insertMany(
			params(uniqueKey("a")),
			params(uniqueKey("b")),
			params(uniqueKey("a"), kind("dup")),
			params(), // no key: never skipped
			params(),
		)
		skipped := []bool{false, false, true, false, false}
		for i, r := range res {
			if r.UniqueSkipped != skipped[i] {
				t.Errorf("result %d: UniqueSkipped = %t, want %t", i, r.UniqueSkipped, skipped[i])
			}
		}
		if res[2].Job.ID != res[0].Job.ID || res[2].Job.Kind != "noop" {
			t.Errorf("skipped result holds job %d (%s), want job %d", res[2].Job.ID, res[2].Job.Kind, res[0].Job.ID)
		}
		if n := len(f.list(&store.JobListParams{})); n != 4 {
			t.Errorf("%d jobs stored, want 4", n)
		}
	})

	t.Run("ValuesRoundTrip", func(t *testing.T) {
		// Tags and JSON that a store must not mangle: separators, quotes,
		// escapes and non-ASCII text, an empty tag, nested values.
		f := newFixture(t, newStore)
		tags := []string{"a,b", `"quoted"`, "{braces}", `back\slash`, "ünïcödé ✓", "", "NULL", " spaced "}
		p := params(func(p *store.JobInsertParams) {
			p.Tags = tags
			p.Args = json.RawMessage(`{"s":"line\nbreak \"q\" \u00e9","n":[1,2.5,-3e2],"o":{"deep":[{}]},"b":true,"z":null}`)
			p.Metadata = json.RawMessage(`{"kiln.x":"y","list":["a","b"]}`)
		})
		job := f.insertMany(p)[0].Job
		for _, j := range []*kilntype.JobRow{job, f.get(job.ID), f.list(&store.JobListParams{})[0]} {
			if !slices.Equal(j.Tags, tags) {
				t.Errorf("Tags = %q, want %q", j.Tags, tags)
			}
			wantJSON(t, "Args", j.Args, p.Args)
			wantJSON(t, "Metadata", j.Metadata, p.Metadata)
		}
		claimed := f.claim(claimParams("default", 1, base))
		if len(claimed) != 1 || !slices.Equal(claimed[0].Tags, tags) {
			t.Fatalf("claimed %+v, want the job with its tags", claimed)
		}
		wantJSON(t, "claimed Args", claimed[0].Args, p.Args)
	})

	t.Run("LargeBatchWithUniqueKeys", func(t *testing.T) {
		// One call of 1,000 jobs, every third with a unique key that an
		// earlier row or a stored job holds: results stay in order.
		f := newFixture(t, newStore)
		held := f.insert(uniqueKey("k0"), kind("held"))
		const n = 1000
		ps := make([]*store.JobInsertParams, n)
		for i := range ps {
			ps[i] = params(kind(fmt.Sprintf("k%d", i)))
			if i%3 == 0 {
				ps[i].UniqueKey = fmt.Sprintf("k%d", i%30) // k0 to k27, each held after its first use
			}
		}
		res := f.insertMany(ps...)
		stored := 1 // held
		var lastID int64
		for i, r := range res {
			switch {
			case i%3 == 0 && (i < 30 && i != 0):
				if r.UniqueSkipped || r.Job.Kind != ps[i].Kind || r.Job.UniqueKey != ps[i].UniqueKey {
					t.Fatalf("result %d = %+v, want job %s inserted", i, r, ps[i].Kind)
				}
			case i%3 == 0:
				firstKind := fmt.Sprintf("k%d", i%30)
				if i%30 == 0 {
					firstKind = "held"
				}
				if !r.UniqueSkipped || r.Job.Kind != firstKind {
					t.Fatalf("result %d = skipped %t, job %s; want skipped, job %s", i, r.UniqueSkipped, r.Job.Kind, firstKind)
				}
				continue
			default:
				if r.UniqueSkipped || r.Job.Kind != ps[i].Kind {
					t.Fatalf("result %d = %+v, want job %s inserted", i, r, ps[i].Kind)
				}
			}
			if r.Job.ID <= lastID {
				t.Fatalf("result %d: ID %d after %d: IDs do not increase in order", i, r.Job.ID, lastID)
			}
			lastID = r.Job.ID
			stored++
			wantSameJob(t, f.get(r.Job.ID), r.Job)
		}
		if res[0].Job.ID != held.ID {
			t.Errorf("result 0 holds job %d, want the held job %d", res[0].Job.ID, held.ID)
		}
		if got := len(f.list(&store.JobListParams{Limit: 2 * n})); got != stored {
			t.Errorf("%d jobs stored, want %d", got, stored)
		}
	})
}

func testGet(t *testing.T, newStore NewStoreFunc) {
	t.Run("NotFound", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insert()
		if _, err := f.s.JobGet(f.ctx, &store.JobGetParams{ID: 987654}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("JobGet(unknown) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("ReturnsCopy", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.insert(func(p *store.JobInsertParams) { p.Tags = []string{"x"} })
		got := f.get(job.ID)
		got.Kind, got.Tags[0], got.Args[0] = "changed", "changed", ' '
		again := f.get(job.ID)
		if again.Kind != "noop" || again.Tags[0] != "x" {
			t.Errorf("changing a returned row changed the store: %+v", again)
		}
		wantJSON(t, "Args", again.Args, []byte(`{"n":1}`))
	})
}
