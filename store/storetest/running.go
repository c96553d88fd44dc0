package storetest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func testRunningCount(t *testing.T, newStore NewStoreFunc) {
	t.Run("PerKindAndKey", func(t *testing.T) {
		f := newFixture(t, newStore)
		for range 3 {
			f.running(kind("a"), partition("k1"))
		}
		f.running(kind("a"), partition("k2"))
		f.running(kind("a"), partition("k0"))
		f.running(kind("a"), partition("k0"))
		f.running(kind("a")) // no key: counted for the kind, not per key
		f.running(kind("b"))
		f.running(kind("c"), partition("x"))     // a kind not asked for
		f.insertN(5, kind("a"), partition("k1")) // available: not counted
		done := f.running(kind("a"), partition("k9"))
		f.finish(finishParams(done, kilntype.JobStateCompleted, base)) // finished: not counted

		got, err := f.s.JobRunningCount(f.ctx, &store.JobRunningCountParams{
			Kinds: []string{"a", "b", "none"}, PartitionKinds: []string{"a", "b"}, MaxKeys: 2})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"a": 7, "b": 1}; !reflect.DeepEqual(got.ByKind, want) {
			t.Errorf("ByKind = %v; want %v", got.ByKind, want)
		}
		want := map[string]*store.PartitionRunning{"a": {Keys: 3, Busiest: []kilntype.KeyRunning{{Key: "k1", Running: 3}, {Key: "k0", Running: 2}}}}
		if !reflect.DeepEqual(got.ByKey, want) {
			t.Errorf("ByKey = %s; want %s", fmtByKey(got.ByKey), fmtByKey(want))
		}
		// Ties in key byte order; no Kinds: no ByKind.
		got, err = f.s.JobRunningCount(f.ctx, &store.JobRunningCountParams{PartitionKinds: []string{"a"}, MaxKeys: store.MaxRunningKeys})
		if err != nil {
			t.Fatal(err)
		}
		want = map[string]*store.PartitionRunning{"a": {Keys: 3, Busiest: []kilntype.KeyRunning{
			{Key: "k1", Running: 3}, {Key: "k0", Running: 2}, {Key: "k2", Running: 1}}}}
		if !reflect.DeepEqual(got.ByKey, want) || len(got.ByKind) != 0 {
			t.Errorf("all keys: ByKey = %s, ByKind %v; want %s", fmtByKey(got.ByKey), got.ByKind, fmtByKey(want))
		}
		// Kinds only.
		got, err = f.s.JobRunningCount(f.ctx, &store.JobRunningCountParams{Kinds: []string{"c"}})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"c": 1}; !reflect.DeepEqual(got.ByKind, want) || len(got.ByKey) != 0 {
			t.Errorf("kind c: ByKind = %v, ByKey %s; want %v", got.ByKind, fmtByKey(got.ByKey), want)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.insertN(2, kind("x"), partition("k"))
		for _, p := range []*store.JobRunningCountParams{
			{Kinds: []string{"x"}, PartitionKinds: []string{"x"}, MaxKeys: 1},
			{},
		} {
			got, err := f.s.JobRunningCount(f.ctx, p)
			if err != nil || got == nil || got.ByKind == nil || got.ByKey == nil || len(got.ByKind) != 0 || len(got.ByKey) != 0 {
				t.Errorf("nothing running, %+v: %+v, %v; want empty maps", p, got, err)
			}
		}
	})
	t.Run("Bounds", func(t *testing.T) {
		f := newFixture(t, newStore)
		many := make([]string, store.MaxRunningKinds+1)
		for i := range many {
			many[i] = fmt.Sprint("k", i)
		}
		for _, c := range []struct {
			name string
			p    store.JobRunningCountParams
			want string
		}{
			{"kinds", store.JobRunningCountParams{Kinds: many}, fmt.Sprintf("at most %d", store.MaxRunningKinds)},
			{"partition kinds", store.JobRunningCountParams{PartitionKinds: many, MaxKeys: 1}, fmt.Sprintf("at most %d", store.MaxRunningKinds)},
			{"no keys", store.JobRunningCountParams{PartitionKinds: []string{"a"}}, fmt.Sprintf("0 keys per kind; want 1 to %d", store.MaxRunningKeys)},
			{"negative keys", store.JobRunningCountParams{PartitionKinds: []string{"a"}, MaxKeys: -1}, "want 1 to"},
			{"too many keys", store.JobRunningCountParams{PartitionKinds: []string{"a"}, MaxKeys: store.MaxRunningKeys + 1}, "want 1 to"},
		} {
			if _, err := f.s.JobRunningCount(f.ctx, &c.p); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: error %v; want one saying %q", c.name, err, c.want)
			}
		}
		// At the bounds.
		if _, err := f.s.JobRunningCount(f.ctx, &store.JobRunningCountParams{Kinds: many[1:], PartitionKinds: many[1:],
			MaxKeys: store.MaxRunningKeys}); err != nil {
			t.Errorf("%d kinds: %v", len(many)-1, err)
		}
	})
}

// fmtByKey formats per-key counts for messages.
func fmtByKey(m map[string]*store.PartitionRunning) string {
	var b strings.Builder
	for k, v := range m {
		fmt.Fprintf(&b, "%s: %d keys %v; ", k, v.Keys, v.Busiest)
	}
	return b.String()
}
