package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func testClaim(t *testing.T, newStore NewStoreFunc) {
	t.Run("DueRules", func(t *testing.T) {
		f := newFixture(t, newStore)
		now := base.Add(2 * time.Hour)
		past, future := now.Add(-time.Minute), now.Add(time.Minute)
		// Jobs that are never due, then retryable ones (both claimed from
		// "default" at base while it holds nothing else due).
		for _, state := range []kilntype.JobState{kilntype.JobStateRunning,
			kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded} {
			f.inState(state, queue("default"))
		}
		retryableDue := f.retryable(past, queue("default"))
		retryableFuture := f.retryable(future, queue("default"))
		availableFuture := f.insert(scheduledAt(future)) // due at its time, like the others
		scheduledPast := f.insert(scheduled(past))
		scheduledNow := f.insert(scheduled(now))
		scheduledFuture := f.insert(scheduled(future))
		f.insert(pending(), scheduledAt(past))

		got := f.claim(claimParams("default", 100, now))
		wantIDSet(t, "claimed", ids(got),
			[]int64{retryableDue.ID, scheduledPast.ID, scheduledNow.ID})
		for _, j := range got {
			if j.ID == retryableDue.ID && j.Attempt != 2 {
				t.Errorf("retryable job claimed again: Attempt = %d, want 2", j.Attempt)
			}
		}
		if got := f.claim(claimParams("default", 100, future.Add(-time.Microsecond))); len(got) != 0 {
			t.Errorf("claimed before their ScheduledAt: %v", ids(got))
		}
		wantIDs(t, "claimed at their ScheduledAt",
			ids(f.claim(claimParams("default", 100, future))), []int64{retryableFuture.ID, availableFuture.ID, scheduledFuture.ID})
	})

	t.Run("Order", func(t *testing.T) {
		f := newFixture(t, newStore)
		at := func(s int) time.Time { return base.Add(time.Duration(s) * time.Second) }
		p1retry := f.retryable(at(-4), priority(1), queue("default"))
		// Inserted in an order unlike the claim order.
		p2late := f.insert(priority(2), scheduledAt(at(-1)))
		p1late := f.insert(priority(1), scheduledAt(at(-1)))
		p2early := f.insert(priority(2), scheduledAt(at(-5)))
		p1schedEarly := f.insert(priority(1), scheduled(at(-3)))
		p1tieA := f.insert(priority(1), scheduledAt(at(-2)))
		p1tieB := f.insert(priority(1), scheduledAt(at(-2)))
		p3 := f.insert(priority(3), scheduledAt(at(-9)))
		p4sched := f.insert(priority(4), scheduled(at(-10)))

		var got []int64
		for {
			jobs := f.claim(claimParams("default", 2, base))
			if len(jobs) == 0 {
				break
			}
			got = append(got, ids(jobs)...)
		}
		wantIDs(t, "claim order", got, []int64{
			p1retry.ID, p1schedEarly.ID, p1tieA.ID, p1tieB.ID, p1late.ID,
			p2early.ID, p2late.ID, p3.ID, p4sched.ID,
		})
	})

	t.Run("OrderAcrossStates", func(t *testing.T) {
		// ScheduledAt, not ID, orders an available job after a scheduled
		// one of the same priority.
		f := newFixture(t, newStore)
		later := f.insert(scheduledAt(base.Add(-time.Second)))
		earlier := f.insert(scheduled(base.Add(-time.Minute)))
		wantIDs(t, "first claim", ids(f.claim(claimParams("default", 1, base))), []int64{earlier.ID})
		wantIDs(t, "second claim", ids(f.claim(claimParams("default", 1, base))), []int64{later.ID})
	})

	t.Run("OrderWithinOneClaim", func(t *testing.T) {
		f := newFixture(t, newStore)
		c := f.insert(priority(2))
		b := f.insert(priority(1), scheduled(base.Add(-time.Second)))
		a := f.insert(priority(1), scheduledAt(base.Add(-time.Hour)))
		wantIDs(t, "claimed", ids(f.claim(claimParams("default", 10, base))), []int64{a.ID, b.ID, c.ID})
	})

	t.Run("Max", func(t *testing.T) {
		f := newFixture(t, newStore)
		jobs := ids(f.insertN(7))
		wantIDs(t, "first claim", ids(f.claim(claimParams("default", 3, base))), jobs[:3])
		wantIDs(t, "second claim", ids(f.claim(claimParams("default", 3, base))), jobs[3:6])
		wantIDs(t, "third claim", ids(f.claim(claimParams("default", 3, base))), jobs[6:])
		if got := f.claim(claimParams("default", 3, base)); len(got) != 0 {
			t.Errorf("claim of an empty queue returned %v", ids(got))
		}
		f.insert()
		if got := f.claim(claimParams("default", 0, base)); len(got) != 0 {
			t.Errorf("Max 0 claimed %v", ids(got))
		}
	})

	t.Run("QueueIsolation", func(t *testing.T) {
		f := newFixture(t, newStore)
		a := f.insertN(3, queue("a"))
		b := f.insertN(2, queue("b"))
		wantIDs(t, "queue a", ids(f.claim(claimParams("a", 10, base))), ids(a))
		wantIDs(t, "queue b", ids(f.claim(claimParams("b", 10, base))), ids(b))
		if got := f.claim(claimParams("c", 10, base)); len(got) != 0 {
			t.Errorf("queue c claimed %v", ids(got))
		}
	})

	t.Run("Kinds", func(t *testing.T) {
		f := newFixture(t, newStore)
		k1 := f.insert(kind("k1"))
		k2 := f.insert(kind("k2"), scheduled(base.Add(-time.Second)))
		k3 := f.insert(kind("k3"))
		p := claimParams("default", 10, base)
		p.AnyKind = false
		p.Kinds = []string{"k1", "k2"}
		wantIDs(t, "kinds k1, k2", ids(f.claim(p)), []int64{k2.ID, k1.ID})
		// No kinds is never "any kind": a process without workers claims
		// nothing.
		p.Kinds = []string{}
		if got := f.claim(p); len(got) != 0 {
			t.Errorf("empty Kinds claimed %v", ids(got))
		}
		p.Kinds = nil
		if got := f.claim(p); len(got) != 0 {
			t.Errorf("nil Kinds claimed %v", ids(got))
		}
		p.AnyKind = true
		p.Kinds = []string{"k1"} // ignored
		wantIDs(t, "any kind", ids(f.claim(p)), []int64{k3.ID})
	})

	t.Run("ManyKinds", func(t *testing.T) {
		// The kinds' jobs are merged in claim order, however many kinds a
		// claim has (a store may read each kind's jobs apart), and jobs
		// of other kinds ahead of them are left.
		f := newFixture(t, newStore)
		type job struct {
			id       int64
			priority int
			at       time.Time
		}
		var (
			kinds []string
			want  []job
		)
		for k := range 250 {
			kinds = append(kinds, fmt.Sprintf("k%03d", k))
		}
		f.insertN(20, kind("other"), priority(1), scheduledAt(base.Add(-time.Hour)))
		for i := range 600 {
			at := base.Add(-time.Duration(i*37%101) * time.Second)
			mods := []jobMod{kind(kinds[i*7%len(kinds)]), priority(1 + i%3), scheduledAt(at)}
			if i%10 == 0 {
				mods = append(mods, scheduled(at))
			}
			want = append(want, job{f.insert(mods...).ID, 1 + i%3, at})
		}
		slices.SortFunc(want, func(a, b job) int {
			return cmp.Or(cmp.Compare(a.priority, b.priority), a.at.Compare(b.at), cmp.Compare(a.id, b.id))
		})
		wantOrder := make([]int64, len(want))
		for i, j := range want {
			wantOrder[i] = j.id
		}
		p := claimParams("default", 37, base)
		p.AnyKind = false
		p.Kinds = append(append(slices.Clone(kinds), "absent"), kinds[:10]...) // with duplicates
		var got []int64
		for range len(want) {
			jobs := f.claim(p)
			if len(jobs) == 0 {
				break
			}
			got = append(got, ids(jobs)...)
		}
		wantIDs(t, "claim order of 250 kinds", got, wantOrder)
	})

	t.Run("KindLimits", func(t *testing.T) {
		f := newFixture(t, newStore)
		var k1, k3 []int64
		for range 5 { // interleaved, k1 first; k2 has a limit of 0
			k1 = append(k1, f.insert(kind("k1")).ID)
			f.insert(kind("k2"))
			k3 = append(k3, f.insert(kind("k3")).ID)
		}
		p := claimParams("default", 10, base)
		p.KindLimits = map[string]int{"k1": 2, "k2": 0}
		got := f.claim(p)
		want := []int64{k1[0], k3[0], k1[1], k3[1], k3[2], k3[3], k3[4]}
		wantIDs(t, "claimed", ids(got), want)
	})

	t.Run("KindLimitsBeyondAWindow", func(t *testing.T) {
		// The first candidates are all of a limited kind: the claim must
		// look past them.
		f := newFixture(t, newStore)
		limited := f.insertN(50, kind("limited"))
		other := f.insertN(5, kind("other"))
		p := claimParams("default", 3, base)
		p.KindLimits = map[string]int{"limited": 1}
		wantIDs(t, "claimed", ids(f.claim(p)), []int64{limited[0].ID, other[0].ID, other[1].ID})
		p.KindLimits = map[string]int{"limited": 0, "absent": 1}
		wantIDs(t, "claimed", ids(f.claim(p)), []int64{other[2].ID, other[3].ID, other[4].ID})
	})

	t.Run("KindLimitsAcrossStates", func(t *testing.T) {
		// A kind's limit counts its due jobs of every state: available,
		// scheduled and retryable.
		f := newFixture(t, newStore)
		retry := f.retryable(base.Add(-time.Minute), kind("k"), queue("default"))
		sched := f.insert(kind("k"), scheduled(base.Add(-2*time.Minute)))
		avail := f.insert(kind("k"), scheduledAt(base.Add(-3*time.Minute)))
		other := f.insert(kind("other"), priority(2))
		p := claimParams("default", 10, base)
		p.KindLimits = map[string]int{"k": 2}
		wantIDs(t, "claimed", ids(f.claim(p)), []int64{avail.ID, sched.ID, other.ID})
		wantIDs(t, "claimed next", ids(f.claim(p)), []int64{retry.ID})
	})

	t.Run("SetsLease", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.insert()
		now := base.Add(time.Second)
		p := claimParams("default", 1, now)
		p.LeasedBy = procB
		got := f.claim(p)
		if len(got) != 1 {
			t.Fatalf("claimed %d jobs, want 1", len(got))
		}
		want := *job
		want.State = kilntype.JobStateRunning
		want.Attempt = 1
		want.AttemptedAt = ptr(now)
		want.LeasedBy = procB
		want.LeaseExpiresAt = ptr(now.Add(leaseTTL))
		wantSameJob(t, got[0], &want)
		wantSameJob(t, f.get(job.ID), &want)
	})

	// A claimed job is the stored one, whatever the store leaves out of
	// its read (SQLite reads neither the queue nor empty tags and
	// metadata): its queue, tags and metadata, empty or not, of an
	// available job and of a due retryable one.
	t.Run("ReturnsStoredRow", func(t *testing.T) {
		f := newFixture(t, newStore)
		jobs := []*kilntype.JobRow{
			f.insert(queue("q-row")),
			f.insert(queue("q-row"), tags("a", "b"), metadata(`{"k":"v"}`)),
			f.insert(queue("q-row"), tags(), metadata(`{}`), scheduled(base.Add(-time.Second)), kind("other")),
			f.insert(queue("q-row"), tags("c"), metadata(`{"x":[]}`), scheduled(base.Add(-time.Second)), kind("other")),
		}
		now := base.Add(time.Second)
		got := f.claim(claimParams("q-row", len(jobs), now))
		if len(got) != len(jobs) {
			t.Fatalf("claimed %d jobs, want %d", len(got), len(jobs))
		}
		for _, j := range got {
			stored := f.get(j.ID)
			wantSameJob(t, j, stored)
			if j.Queue != "q-row" || len(j.Tags) != len(stored.Tags) || string(j.Metadata) != string(stored.Metadata) {
				t.Errorf("job %d claimed with queue %q, tags %q, metadata %s; stored %q, %q, %s",
					j.ID, j.Queue, j.Tags, j.Metadata, stored.Queue, stored.Tags, stored.Metadata)
			}
		}
	})

	t.Run("CancelRequestNotCarriedOver", func(t *testing.T) {
		// A running job whose cancel was requested and that was then put
		// back (interrupted by a shutdown) is cancelled, not run again; a
		// retry by hand starts it afresh, without the old request.
		f := newFixture(t, newStore)
		job := f.running()
		if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: job.ID, Now: base}); err != nil {
			t.Fatal(err)
		}
		p := finishParams(job, kilntype.JobStateAvailable, base)
		p.UndoAttempt = true
		f.finish(p)
		if got := f.claim(claimParams(job.Queue, 1, base)); len(got) != 0 {
			t.Fatalf("claimed a job whose cancel was requested: %+v", got)
		}
		if _, err := f.s.JobRetry(f.ctx, &store.JobRetryParams{ID: job.ID, Now: base}); err != nil {
			t.Fatal(err)
		}
		got := f.claim(claimParams(job.Queue, 1, base))
		if len(got) != 1 || got[0].CancelRequestedAt != nil {
			t.Errorf("reclaimed job: %+v, want running without CancelRequestedAt", got)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		f := newFixture(t, newStore)
		claimOnce(t, f.s, f.s)
	})
}

func testLeaseRenew(t *testing.T, newStore NewStoreFunc) {
	t.Run("OnlyOwnRunningJobs", func(t *testing.T) {
		f := newFixture(t, newStore)
		own := ids(f.insertN(3, queue("q")))
		f.claim(claimParams("q", 3, base))
		theirs := f.insert(queue("q"))
		p := claimParams("q", 1, base)
		p.LeasedBy = procB
		f.claim(p)
		available := f.insert(queue("other"))
		done := f.inState(kilntype.JobStateCompleted)

		until := base.Add(5 * time.Minute)
		renewed, err := f.s.JobLeaseRenew(f.ctx, &store.JobLeaseRenewParams{
			LeasedBy:       procA,
			IDs:            append(own, theirs.ID, available.ID, done.ID, 987654),
			LeaseExpiresAt: until,
			Now:            base.Add(time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		wantIDSet(t, "renewed", renewed, own)
		for _, id := range own {
			wantTimePtr(t, "own LeaseExpiresAt", f.get(id).LeaseExpiresAt, &until)
		}
		wantTimePtr(t, "other process's LeaseExpiresAt", f.get(theirs.ID).LeaseExpiresAt, ptr(base.Add(leaseTTL)))
		if got := f.get(available.ID); got.LeaseExpiresAt != nil || got.State != kilntype.JobStateAvailable {
			t.Errorf("available job changed by renew: %+v", got)
		}
	})

	t.Run("FinishedJobNotRenewed", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.running(), f.running()
		f.finish(finishParams(a, kilntype.JobStateCompleted, base))
		renewed, err := f.s.JobLeaseRenew(f.ctx, &store.JobLeaseRenewParams{
			LeasedBy: procA, IDs: []int64{a.ID, b.ID}, LeaseExpiresAt: base.Add(time.Hour), Now: base,
		})
		if err != nil {
			t.Fatal(err)
		}
		wantIDSet(t, "renewed", renewed, []int64{b.ID})
	})

	t.Run("NoIDs", func(t *testing.T) {
		f := newFixture(t, newStore)
		renewed, err := f.s.JobLeaseRenew(f.ctx, &store.JobLeaseRenewParams{LeasedBy: procA, LeaseExpiresAt: base, Now: base})
		if err != nil || len(renewed) != 0 {
			t.Errorf("JobLeaseRenew(no IDs) = %v, %v; want none, nil", renewed, err)
		}
	})
}

func testListCancelRequested(t *testing.T, newStore NewStoreFunc) {
	t.Run("OwnRequestedOnly", func(t *testing.T) { listCancelRequested(t, newStore) })
}

func listCancelRequested(t *testing.T, newStore NewStoreFunc) {
	f := newFixture(t, newStore)
	a1 := f.running()
	f.running() // no cancel request
	a3 := f.running()
	b1 := f.insert(queue("b"))
	p := claimParams("b", 1, base)
	p.LeasedBy = procB
	f.claim(p)
	avail := f.insert()
	for _, id := range []int64{a1.ID, a3.ID, b1.ID, avail.ID} {
		if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: id, Now: base}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		leasedBy string
		want     []int64
	}{
		{procA, []int64{a1.ID, a3.ID}},
		{procB, []int64{b1.ID}},
		{"nobody", nil},
	} {
		got, err := f.s.JobListCancelRequested(f.ctx, &store.JobListCancelRequestedParams{LeasedBy: tc.leasedBy})
		if err != nil {
			t.Fatal(err)
		}
		wantIDSet(t, "cancel requested for "+tc.leasedBy, got, tc.want)
	}
	// A job that stopped running is no longer listed.
	f.finish(finishParams(a1, kilntype.JobStateCancelled, base.Add(time.Second)))
	got, err := f.s.JobListCancelRequested(f.ctx, &store.JobListCancelRequestedParams{LeasedBy: procA})
	if err != nil {
		t.Fatal(err)
	}
	wantIDSet(t, "cancel requested after a finish", got, []int64{a3.ID})
}
