package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func testServers(t *testing.T, newStore NewStoreFunc) {
	t.Run("UpsertListDelete", func(t *testing.T) {
		f := newFixture(t, newStore)
		var s store.ServerStore = f.s
		upsert := func(row *kilntype.ServerRow) {
			t.Helper()
			if err := s.ServerUpsert(f.ctx, &store.ServerUpsertParams{Row: row}); err != nil {
				t.Fatal(err)
			}
		}
		b := &kilntype.ServerRow{ID: procB, Host: "h2", PID: 2, StartedAt: base, RefreshedAt: base}
		upsert(b) // nil Queues, Kinds and Limits are stored as empty lists
		upsert(&kilntype.ServerRow{ID: procA, Host: "h1", PID: 1, StartedAt: base, RefreshedAt: base,
			Queues: []kilntype.ServerQueue{{Name: "default", MaxWorkers: 10}}, Kinds: []string{"a"}})
		a := &kilntype.ServerRow{ID: procA, Host: "h1", PID: 1, StartedAt: base, RefreshedAt: base.Add(time.Minute),
			Queues: []kilntype.ServerQueue{{Name: "default", MaxWorkers: 10, Busy: 3}, {Name: "mail", MaxWorkers: 2, Busy: 2}},
			Kinds:  []string{"a", "b"},
			Limits: []kilntype.KindLimits{{Kind: "a", MaxConcurrency: 2, ClusterMaxConcurrency: 5, PartitionMaxConcurrency: 1,
				PartitionRateLimit: &kilntype.RateLimit{Limit: 3, Period: time.Minute, Burst: 1}},
				{Kind: "b", RateLimit: &kilntype.RateLimit{Limit: 10, Period: 1500 * time.Microsecond}}}}
		upsert(a) // replaces procA's row, lists included

		rows, err := s.ServerList(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0].ID != procA || rows[1].ID != procB {
			t.Fatalf("ServerList = %+v; want %s then %s", rows, procA, procB)
		}
		got := rows[0]
		if got.Host != "h1" || got.PID != 1 || !reflect.DeepEqual(got.Queues, a.Queues) || !reflect.DeepEqual(got.Kinds, a.Kinds) ||
			!reflect.DeepEqual(got.Limits, a.Limits) {
			t.Errorf("server A = %+v; want %+v", got, a)
		}
		wantTime(t, "StartedAt", got.StartedAt, base)
		wantTime(t, "RefreshedAt", got.RefreshedAt, base.Add(time.Minute))
		if busy, total := got.Busy(); busy != 5 || total != 12 {
			t.Errorf("Busy() = %d, %d; want 5, 12", busy, total)
		}
		if rows[1].Queues == nil || len(rows[1].Queues) != 0 || rows[1].Kinds == nil || len(rows[1].Kinds) != 0 ||
			rows[1].Limits == nil || len(rows[1].Limits) != 0 {
			t.Errorf("server B lists = %#v, %#v, %#v; want empty, not nil", rows[1].Queues, rows[1].Kinds, rows[1].Limits)
		}

		stale, err := s.ServerDeleteStale(f.ctx, &store.ServerDeleteStaleParams{Before: base.Add(time.Second)})
		if err != nil || !reflect.DeepEqual(stale, []string{procB}) {
			t.Fatalf("ServerDeleteStale = %v, %v; want [%s]", stale, err, procB)
		}
		if stale, err := s.ServerDeleteStale(f.ctx, &store.ServerDeleteStaleParams{Before: base.Add(time.Second)}); err != nil || len(stale) != 0 {
			t.Fatalf("second ServerDeleteStale = %v, %v; want none", stale, err)
		}
		if err := s.ServerDelete(f.ctx, &store.ServerDeleteParams{ID: procA}); err != nil {
			t.Fatal(err)
		}
		if err := s.ServerDelete(f.ctx, &store.ServerDeleteParams{ID: "unknown"}); err != nil {
			t.Fatalf("deleting an unknown server: %v", err)
		}
		if rows, err := s.ServerList(f.ctx); err != nil || len(rows) != 0 {
			t.Fatalf("ServerList after deletes = %+v, %v; want empty", rows, err)
		}
	})
}
