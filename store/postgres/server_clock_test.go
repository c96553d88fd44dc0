package postgres_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

// TestServerRegistryOnDatabaseClock: without CallerClock, a registry row is
// stamped with the database's clock and reaped by it, so a process on a
// host whose clock runs an hour behind the reaper's is not taken for dead
// (the reaper passes its own clock's Before as well, which the store must
// not read), while a row that the database's clock has not seen refreshed
// for longer than the TTL is deleted.
func TestServerRegistryOnDatabaseClock(t *testing.T) {
	t.Parallel()
	testURL(t)
	ctx := context.Background()
	s := open(t, &postgres.Options{Schema: newSchema(t), MaxConns: 2, Migrate: true})
	reaperNow := time.Now()
	upsert := func(id string, clock time.Time) {
		t.Helper()
		if err := s.ServerUpsert(ctx, &store.ServerUpsertParams{Row: &kilntype.ServerRow{ID: id, Host: id, PID: 1,
			StartedAt: clock, RefreshedAt: clock}}); err != nil {
			t.Fatal(err)
		}
	}
	upsert("behind", reaperNow.Add(-time.Hour)) // a live process whose host's clock is an hour slow
	upsert("gone", reaperNow)
	if _, err := s.Pool().Exec(ctx, `UPDATE `+pgx.Identifier{s.Schema()}.Sanitize()+`.kiln_server SET heartbeat_at = now() - interval '2 minutes' WHERE id = 'gone'`); err != nil {
		t.Fatal(err)
	}
	stale, err := s.ServerDeleteStale(ctx, &store.ServerDeleteStaleParams{Before: reaperNow.Add(-time.Minute), TTL: time.Minute})
	if err != nil || !reflect.DeepEqual(stale, []string{"gone"}) {
		t.Fatalf("ServerDeleteStale = %v, %v; want [gone]: the slow host's live row kept, the unrefreshed one deleted", stale, err)
	}
	rows, err := s.ServerList(ctx)
	if err != nil || len(rows) != 1 || rows[0].ID != "behind" {
		t.Fatalf("ServerList = %v, %v; want the slow host's row", rows, err)
	}
	if age := time.Since(rows[0].RefreshedAt); age > time.Minute || age < -time.Minute {
		t.Errorf("RefreshedAt %v is %v from now: want the database's clock, not the host's", rows[0].RefreshedAt, age)
	}
}
