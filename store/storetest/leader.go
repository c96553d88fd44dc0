package storetest

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln/store"
)

func testLeader(t *testing.T, newStore NewStoreFunc) {
	const ttl = 10 * time.Second
	elect := func(f *fixture, name, id string, now time.Time) bool {
		f.t.Helper()
		ok, err := f.s.LeaderAttemptElect(f.ctx, &store.LeaderElectParams{Name: name, LeaderID: id, TTL: ttl, Now: now})
		if err != nil {
			f.t.Fatalf("LeaderAttemptElect(%s, %s): %v", name, id, err)
		}
		return ok
	}
	resign := func(f *fixture, name, id string) {
		f.t.Helper()
		if err := f.s.LeaderResign(f.ctx, &store.LeaderResignParams{Name: name, LeaderID: id}); err != nil {
			f.t.Fatalf("LeaderResign(%s, %s): %v", name, id, err)
		}
	}
	at := func(d time.Duration) time.Time { return base.Add(d) }

	t.Run("ElectAndRenew", func(t *testing.T) {
		f := newFixture(t, newStore)
		if !elect(f, "m", procA, at(0)) {
			t.Fatal("first candidate not elected")
		}
		if elect(f, "m", procB, at(time.Second)) {
			t.Error("second candidate elected while the term runs")
		}
		if !elect(f, "m", procA, at(8*time.Second)) { // extends the term to 18 s
			t.Error("leader not re-elected")
		}
		if elect(f, "m", procB, at(15*time.Second)) {
			t.Error("second candidate elected before the extended term ended")
		}
		if !elect(f, "m", procA, at(17*time.Second)) {
			t.Error("leader not re-elected")
		}
	})

	t.Run("ExpiryTakeover", func(t *testing.T) {
		f := newFixture(t, newStore)
		elect(f, "m", procA, at(0))
		if elect(f, "m", procB, at(ttl-time.Microsecond)) {
			t.Error("elected before the term ended")
		}
		if !elect(f, "m", procB, at(ttl+time.Second)) {
			t.Fatal("not elected after the term ended")
		}
		if elect(f, "m", procA, at(ttl+2*time.Second)) {
			t.Error("former leader elected while the new term runs")
		}
	})

	t.Run("Resign", func(t *testing.T) {
		f := newFixture(t, newStore)
		elect(f, "m", procA, at(0))
		resign(f, "m", procB) // not the leader: no effect
		if elect(f, "m", procB, at(time.Second)) {
			t.Error("elected after a non-leader resigned")
		}
		resign(f, "m", procA)
		if !elect(f, "m", procB, at(time.Second)) {
			t.Error("not elected at once after the leader resigned")
		}
		resign(f, "nothing-led", procA) // no leader: no effect, no error
	})

	t.Run("NamesIndependent", func(t *testing.T) {
		f := newFixture(t, newStore)
		if !elect(f, "a", procA, at(0)) || !elect(f, "b", procB, at(0)) {
			t.Error("leaders of different names not both elected")
		}
		if elect(f, "a", procB, at(time.Second)) || elect(f, "b", procA, at(time.Second)) {
			t.Error("a leader taken over across names")
		}
	})
}
