package postgres_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

// TestRecurringEnqueueAcrossStores races the schedulers of two processes
// (two Stores, four goroutines each) on the same occurrences of three
// entries, enqueued with RecurringEnqueueMany in an entry order of each
// goroutine's own (the entries' locks are taken in ID order, so the
// batches cannot deadlock), and checks that each occurrence enqueued
// exactly one job. Entry "u" gives its jobs unique keys, which takes the
// unpipelined path.
func TestRecurringEnqueueAcrossStores(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := newSchema(t)
	a := open(t, &postgres.Options{Schema: schema, MaxConns: 4, Migrate: true})
	b := open(t, &postgres.Options{Schema: schema, MaxConns: 4, Migrate: true})

	const (
		goroutines  = 8
		occurrences = 40
	)
	entries := []string{"a", "b", "u"}
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	for _, id := range entries {
		row := &kilntype.RecurringRow{ID: id, Schedule: "* * * * *", Kind: "noop", Args: []byte(`{}`),
			Queue: "default", Priority: 1, MaxAttempts: 1, Overlap: kilntype.OverlapAllow,
			Misfire: kilntype.MisfireRunAll, MisfireMax: 100, NextRunAt: at(0)}
		if _, _, err := a.RecurringUpsert(ctx, &store.RecurringUpsertParams{Row: row, Now: base}); err != nil {
			t.Fatal(err)
		}
	}

	type key struct {
		entry string
		at    int64
	}
	var (
		mu       sync.Mutex
		inserted = map[key]int64{} // occurrence -> job ID
		wg       sync.WaitGroup
		errs     = make(chan error, goroutines*occurrences)
	)
	for g := range goroutines {
		s := []*postgres.Store{a, b}[g%2]
		order := slices.Clone(entries)
		if g%2 == 1 {
			slices.Reverse(order)
		}
		wg.Go(func() {
			for start := 0; start < occurrences; start += 4 {
				var ps []*store.RecurringEnqueueParams
				for _, id := range order {
					p := &store.RecurringEnqueueParams{ID: id, Overlap: kilntype.OverlapAllow,
						PrevNextRunAt: at(0), NextRunAt: at(occurrences), Now: base}
					for i := start; i < start+4; i++ {
						occ := (i + g*7) % occurrences
						job := &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{}`),
							Priority: 1, MaxAttempts: 1, State: kilntype.JobStateAvailable,
							ScheduledAt: base, CreatedAt: base}
						if id == "u" {
							job.UniqueKey = fmt.Sprintf("u-%d", occ)
						}
						p.Occurrences = append(p.Occurrences, store.RecurringOccurrenceInsert{At: at(occ), Job: job})
					}
					ps = append(ps, p)
				}
				res, err := s.RecurringEnqueueMany(ctx, ps)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for i, rs := range res {
					for _, r := range rs {
						k := key{ps[i].ID, r.At.UnixMicro()}
						switch {
						case r.Job != nil:
							if id, dup := inserted[k]; dup {
								errs <- fmt.Errorf("occurrence %v enqueued twice: jobs %d and %d", k, id, r.Job.ID)
							}
							inserted[k] = r.Job.ID
						case r.Skipped != "duplicate":
							errs <- fmt.Errorf("occurrence %v skipped as %q", k, r.Skipped)
						}
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if want := len(entries) * occurrences; len(inserted) != want {
		t.Errorf("%d occurrences enqueued, want %d", len(inserted), want)
	}
	for _, id := range entries {
		occs, err := b.RecurringOccurrenceList(ctx, id, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(occs) != occurrences {
			t.Errorf("entry %s: %d occurrences listed, want %d", id, len(occs), occurrences)
		}
		for _, o := range occs {
			if inserted[key{id, o.At.UnixMicro()}] != o.JobID {
				t.Errorf("entry %s: occurrence %v lists job %d, enqueue returned %d", id, o.At, o.JobID,
					inserted[key{id, o.At.UnixMicro()}])
			}
		}
		row, err := b.RecurringGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !row.NextRunAt.Equal(at(occurrences)) {
			t.Errorf("entry %s: NextRunAt = %v, want %v", id, row.NextRunAt, at(occurrences))
		}
	}
}
