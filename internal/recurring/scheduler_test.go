package recurring

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

var base = time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)

func openStore(tb testing.TB, path string) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), path, &sqlite.Options{Migrate: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func newScheduler(st store.Store, now func() time.Time) *Scheduler {
	return New(Config{
		Store: st, Now: now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		PollInterval: time.Second, MisfireThreshold: time.Minute,
		JobParams: func(row *kilntype.RecurringRow, at time.Time) (*store.JobInsertParams, error) {
			return &store.JobInsertParams{Kind: row.Kind, Queue: row.Queue, Args: row.Args, Priority: 1,
				MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: now(), CreatedAt: now(),
				Metadata: []byte(fmt.Sprintf(`{"at":%q}`, at))}, nil
		},
		HasWorker: func(string) bool { return true },
	})
}

func addEntry(tb testing.TB, st store.Store, id, spec string, next time.Time) {
	tb.Helper()
	_, _, err := st.RecurringUpsert(context.Background(), &store.RecurringUpsertParams{Now: base, Row: &kilntype.RecurringRow{
		ID: id, Schedule: spec, Kind: "k", Args: []byte(`{}`), Queue: "default", Priority: 1, MaxAttempts: 1,
		Metadata: []byte(`{}`), Overlap: kilntype.OverlapAllow, Misfire: kilntype.MisfireRunAll, MisfireMax: 1000,
		NextRunAt: next, CreatedAt: base, UpdatedAt: base,
	}})
	if err != nil {
		tb.Fatal(err)
	}
}

func countJobs(tb testing.TB, st store.Store) int {
	tb.Helper()
	counts, err := st.JobCountByState(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return counts[kilntype.JobStateAvailable]
}

// TestTwoSchedulersOneJobPerOccurrence runs two schedulers, each with its own
// connection to one database file (as two processes that both believe they
// lead), over the same occurrences, and checks that the database lets one
// job per occurrence through.
func TestTwoSchedulersOneJobPerOccurrence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kiln.db")
	a, b := openStore(t, path), openStore(t, path)
	for i := range 20 {
		addEntry(t, a, fmt.Sprintf("e%02d", i), "* * * * *", base)
	}
	var now atomic.Int64
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	sa, sb := newScheduler(a, clock), newScheduler(b, clock)
	ctx := context.Background()
	for minute := range 5 {
		now.Store(base.Add(time.Duration(minute) * time.Minute).UnixNano())
		var wg sync.WaitGroup
		for _, s := range []*Scheduler{sa, sb} {
			wg.Go(func() {
				if err := s.pass(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	if n := countJobs(t, a); n != 20*5 {
		t.Fatalf("%d jobs for 20 entries × 5 occurrences, want 100", n)
	}
	for i := range 20 {
		occ, err := a.RecurringOccurrenceList(ctx, fmt.Sprintf("e%02d", i), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(occ) != 5 {
			t.Fatalf("entry e%02d has %d occurrences, want 5", i, len(occ))
		}
	}
}

// BenchmarkDueEntries measures how long one scheduler pass takes to enqueue
// the jobs of 10,000 entries due at the same moment (the goal: under 1 s).
func BenchmarkDueEntries(b *testing.B) {
	const entries = 10_000
	for range b.N {
		b.StopTimer()
		st := openStore(b, filepath.Join(b.TempDir(), "kiln.db"))
		for i := range entries {
			addEntry(b, st, fmt.Sprintf("entry-%05d", i), "0 * * * *", base)
		}
		s := newScheduler(st, func() time.Time { return base })
		b.StartTimer()
		start := time.Now()
		if err := s.pass(context.Background()); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		if n := countJobs(b, st); n != entries {
			b.Fatalf("%d jobs, want %d", n, entries)
		}
		b.ReportMetric(took.Seconds(), "s/10k-entries")
		b.StartTimer()
	}
}
