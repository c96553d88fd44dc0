package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// NewStorePairFunc returns two fresh, migrated stores on one database that
// no other test uses, as two processes sharing it would open them. Like
// NewStoreFunc, it registers its own cleanup and must be safe for
// concurrent use.
type NewStorePairFunc func(t *testing.T) (a, b store.Store)

// RunAcrossStores runs the concurrency contract across two stores on one
// database, as two processes would use it: no job is claimed twice,
// concurrent claims keep to their kind limits, racing recurring schedulers
// enqueue each occurrence once, and a queue paused through one store is
// paused for the other. [Run] runs the same races through one store.
func RunAcrossStores(t *testing.T, newStores NewStorePairFunc) {
	t.Helper()
	groups := []struct {
		name string
		run  func(t *testing.T, a, b store.Store)
	}{
		{"JobClaim", claimOnce},
		{"JobClaimKindLimits", claimWithinKindLimits},
		{"RecurringEnqueue", raceRecurringSchedulers},
		{"Queues", pauseAcrossStores},
	}
	for _, g := range groups {
		t.Run(g.name+"AcrossStores", func(t *testing.T) {
			t.Parallel()
			a, b := newStores(t)
			g.run(t, a, b)
		})
	}
}

// claimOnce inserts jobs through a and has eight claimers, half through
// each store, claim until nothing is left; some go through the rounds of
// kind limits. Every job must be claimed exactly once, returned to its
// claimer leased by it, and be running at attempt 1 afterwards.
func claimOnce(t *testing.T, a, b store.Store) {
	const jobs, claimers = 1000, 8
	fa := &fixture{t: t, s: a, ctx: t.Context()}
	inserted := fa.insertN(jobs)
	var (
		mu      sync.Mutex
		claimed = map[int64]string{}
		wg      sync.WaitGroup
		errs    = make(chan error, claimers)
	)
	for i := range claimers {
		s := []store.Store{a, b}[i%2]
		wg.Go(func() {
			p := claimParams("default", 7, base)
			p.LeasedBy = fmt.Sprintf("claimer-%d", i)
			if i%4 == 3 {
				p.KindLimits = map[string]int{"noop": 5}
			}
			claimAll(t, s, p, errs, func(got []*kilntype.JobRow) {
				mu.Lock()
				for _, j := range got {
					if by, dup := claimed[j.ID]; dup {
						errs <- fmt.Errorf("job %d claimed by %s and %s", j.ID, by, p.LeasedBy)
					}
					claimed[j.ID] = p.LeasedBy
					if j.LeasedBy != p.LeasedBy {
						errs <- fmt.Errorf("job %d returned to %s leased by %s", j.ID, p.LeasedBy, j.LeasedBy)
					}
				}
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claimed) != jobs {
		t.Errorf("%d jobs claimed, want %d", len(claimed), jobs)
	}
	fb := &fixture{t: t, s: b, ctx: t.Context()}
	for _, j := range inserted {
		if got := fb.get(j.ID); got.State != kilntype.JobStateRunning || got.LeasedBy != claimed[j.ID] || got.Attempt != 1 {
			t.Errorf("job %d: %s leased by %q attempt %d, want running leased by %q attempt 1",
				j.ID, got.State, got.LeasedBy, got.Attempt, claimed[j.ID])
		}
	}
}

// claimAll claims with p through s until a claim returns no job, and hands
// each claim's jobs to got. It sends an error of JobClaim on errs and
// stops.
func claimAll(t *testing.T, s store.Store, p *store.JobClaimParams, errs chan<- error, got func([]*kilntype.JobRow)) {
	for {
		jobs, err := s.JobClaim(t.Context(), p)
		if err != nil {
			errs <- err
			return
		}
		if len(jobs) == 0 {
			return
		}
		got(jobs)
	}
}

// claimWithinKindLimits has six claimers, half through each store, claim
// jobs of kinds a, b and c with limits of 1, 2 and 0 per claim: no claim
// may break them, no job may be claimed twice, and every job of a and b is
// claimed.
func claimWithinKindLimits(t *testing.T, a, b store.Store) {
	fa := &fixture{t: t, s: a, ctx: t.Context()}
	for _, k := range []string{"a", "b", "c"} {
		fa.insertN(200, kind(k))
	}
	var (
		wg   sync.WaitGroup
		errs = make(chan error, 100)
		mu   sync.Mutex
		seen = map[int64]bool{}
	)
	for i := range 6 {
		s := []store.Store{a, b}[i%2]
		wg.Go(func() {
			p := claimParams("default", 8, base)
			p.LeasedBy, p.KindLimits = fmt.Sprintf("claimer-%d", i), map[string]int{"a": 1, "b": 2, "c": 0}
			claimAll(t, s, p, errs, func(got []*kilntype.JobRow) {
				perKind := map[string]int{}
				mu.Lock()
				for _, j := range got {
					perKind[j.Kind]++
					if seen[j.ID] {
						errs <- fmt.Errorf("job %d claimed twice", j.ID)
					}
					seen[j.ID] = true
				}
				mu.Unlock()
				if perKind["a"] > 1 || perKind["b"] > 2 || perKind["c"] > 0 {
					errs <- fmt.Errorf("claim broke the kind limits: %v", perKind)
				}
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != 400 {
		t.Errorf("%d jobs claimed, want the 400 of kinds a and b", len(seen))
	}
}

// raceRecurringSchedulers races eight schedulers, half through each store,
// on the same 40 occurrences of three entries, each in an order of its own.
// Half enqueue with RecurringEnqueueMany, every entry in one call (in an
// entry order of their own: the entries' locks are taken in ID order, so
// the batches cannot deadlock); half with RecurringEnqueue, an entry at a
// time. Entry "u" gives its jobs unique keys. Each occurrence must enqueue
// exactly one job, which its occurrence row names, and every entry's
// NextRunAt must end after the last occurrence.
func raceRecurringSchedulers(t *testing.T, a, b store.Store) {
	const (
		schedulers = 8
		times      = 40
	)
	entries := []string{"a", "b", "u"}
	fa := &fixture{t: t, s: a, ctx: t.Context()}
	for _, id := range entries {
		fa.recurring(id, func(r *kilntype.RecurringRow) {
			r.Schedule, r.Overlap, r.Misfire, r.MisfireMax, r.NextRunAt =
				"* * * * *", kilntype.OverlapAllow, kilntype.MisfireRunAll, 100, minutes(0)
		})
	}
	type key struct {
		entry string
		at    int64
	}
	var (
		mu       sync.Mutex
		inserted = map[key]int64{} // occurrence -> job ID
		wg       sync.WaitGroup
		errs     = make(chan error, schedulers*times*len(entries))
	)
	record := func(ps []*store.RecurringEnqueueParams, res [][]store.RecurringOccurrenceResult) {
		mu.Lock()
		defer mu.Unlock()
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
	}
	for g := range schedulers {
		s := []store.Store{a, b}[g%2]
		order := slices.Clone(entries)
		if g%4 >= 2 {
			slices.Reverse(order)
		}
		wg.Go(func() {
			for start := 0; start < times; start += 4 {
				var ps []*store.RecurringEnqueueParams
				for _, id := range order {
					p := &store.RecurringEnqueueParams{ID: id, Overlap: kilntype.OverlapAllow,
						PrevNextRunAt: minutes(0), NextRunAt: minutes(times), Now: base}
					for i := start; i < start+4; i++ {
						at := minutes((i*7 + g*11) % times)
						occ := occurrence(at)
						if id == "u" {
							occ.Job.UniqueKey = fmt.Sprintf("u-%d", at.Unix())
						}
						p.Occurrences = append(p.Occurrences, occ)
					}
					ps = append(ps, p)
				}
				if g%2 == 0 {
					res, err := s.RecurringEnqueueMany(t.Context(), ps)
					if err != nil {
						errs <- err
						return
					}
					record(ps, res)
					continue
				}
				for _, p := range ps {
					res, err := s.RecurringEnqueue(t.Context(), p)
					if err != nil {
						errs <- err
						return
					}
					record([]*store.RecurringEnqueueParams{p}, [][]store.RecurringOccurrenceResult{res})
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if want := len(entries) * times; len(inserted) != want {
		t.Errorf("%d occurrences enqueued, want %d", len(inserted), want)
	}
	fb := &fixture{t: t, s: b, ctx: t.Context()}
	if n := len(fb.list(&store.JobListParams{Limit: 1000})); n != len(entries)*times {
		t.Errorf("%d jobs, want %d", n, len(entries)*times)
	}
	for _, id := range entries {
		occs := fb.occurrences(id, 1000)
		if len(occs) != times {
			t.Errorf("entry %s: %d occurrences listed, want %d", id, len(occs), times)
		}
		for _, o := range occs {
			if k := (key{id, o.At.UnixMicro()}); inserted[k] != o.JobID {
				t.Errorf("entry %s: occurrence %v lists job %d, enqueue returned %d", id, o.At, o.JobID, inserted[k])
			}
		}
		wantTime(t, "entry "+id+" NextRunAt", fb.getRecurring(id).NextRunAt, minutes(times))
	}
}

// pauseAcrossStores checks that a queue paused through one store is paused
// for another store on the same database (another process), and that a
// resume through the other restores claims in the first.
func pauseAcrossStores(t *testing.T, a, b store.Store) {
	fa := &fixture{t: t, s: a, ctx: t.Context()}
	fb := &fixture{t: t, s: b, ctx: t.Context()}
	jobs := fa.insertN(3, queue("shared"))
	pause(fa, a, "shared", true, base)
	if got := fb.claim(claimParams("shared", 10, base)); len(got) != 0 {
		t.Errorf("the other store claimed %v from a queue paused through the first", ids(got))
	}
	if got := fa.claim(claimParams("shared", 10, base)); len(got) != 0 {
		t.Errorf("the pausing store claimed %v from its paused queue", ids(got))
	}
	pause(fb, b, "shared", false, base.Add(time.Second))
	wantIDs(t, "claimed through the first store after the other resumed", ids(fa.claim(claimParams("shared", 10, base))), ids(jobs))
}

// CheckMigrateConcurrently opens four stores with open, each on the same
// new, unmigrated database, as several processes starting together would,
// migrates them all at once, and checks that every Migrate succeeds and
// every store then passes SchemaCheck. It returns the stores, for checks of
// the backend's own (open registers their cleanup).
func CheckMigrateConcurrently(t *testing.T, open func() store.Store) []store.Store {
	t.Helper()
	stores := make([]store.Store, 4)
	for i := range stores {
		stores[i] = open()
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(stores))
	for _, s := range stores {
		wg.Go(func() { errs <- s.Migrate(t.Context()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Migrate: %v", err)
		}
	}
	for _, s := range stores {
		if err := s.SchemaCheck(t.Context()); err != nil {
			t.Errorf("SchemaCheck: %v", err)
		}
	}
	return stores
}
