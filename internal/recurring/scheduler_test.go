package recurring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
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
		occ, err := a.RecurringOccurrenceList(ctx, &store.RecurringOccurrenceListParams{ID: fmt.Sprintf("e%02d", i), Limit: 100})
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

// entryJobs returns the jobs of entry id (its occurrences' jobs), oldest
// first.
func entryJobs(t *testing.T, st store.Store, id string) []*kilntype.JobRow {
	t.Helper()
	ctx := context.Background()
	occs, err := st.RecurringOccurrenceList(ctx, &store.RecurringOccurrenceListParams{ID: id, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var jobs []*kilntype.JobRow
	for i := len(occs) - 1; i >= 0; i-- {
		job, err := st.JobGet(ctx, &store.JobGetParams{ID: occs[i].JobID})
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job)
	}
	return jobs
}

// waitsFor returns the job that job waits for (kiln.parent_ids), or 0.
func waitsFor(t *testing.T, job *kilntype.JobRow) int64 {
	t.Helper()
	var meta struct {
		Parents []int64 `json:"kiln.parent_ids"`
	}
	if err := json.Unmarshal(job.Metadata, &meta); err != nil {
		t.Fatal(err)
	}
	switch {
	case len(meta.Parents) > 1:
		t.Fatalf("job %d waits for %v", job.ID, meta.Parents)
	case len(meta.Parents) == 1 && job.State != kilntype.JobStatePending:
		t.Fatalf("job %d waits for %v but is %s", job.ID, meta.Parents, job.State)
	case len(meta.Parents) == 1:
		return meta.Parents[0]
	}
	return 0
}

// TestCatchUp checks, cell by cell, the table of docs/recurring.md: what a
// pass enqueues for an entry that is behind, by misfire policy, overlap
// policy, and the state of the entry's earlier runs. Two ways to be
// behind: every process was down for 7½ minutes (the occurrences are
// missed: more than the 1-minute MisfireThreshold late), or the leader
// changed 35 s late (they are late but on time, and run as usual).
func TestCatchUp(t *testing.T) {
	ctx := context.Background()
	for _, sc := range []struct {
		name     string
		schedule string
		now      time.Time
		// jobs by misfire policy, when nothing stands in the way
		want map[kilntype.MisfirePolicy]int
	}{
		// 03:04, 03:06, 03:08, 03:10 missed at 03:11:30.
		{"Restart", "*/2 * * * *", base.Add(7*time.Minute + 30*time.Second),
			map[kilntype.MisfirePolicy]int{kilntype.MisfireRunOnce: 1, kilntype.MisfireSkip: 0, kilntype.MisfireRunAll: 4}},
		// 03:04:00, :10, :20, :30 late at 03:04:35.
		{"Failover", "*/10 * * * * *", base.Add(35 * time.Second),
			map[kilntype.MisfirePolicy]int{kilntype.MisfireRunOnce: 4, kilntype.MisfireSkip: 4, kilntype.MisfireRunAll: 4}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			st := openStore(t, filepath.Join(t.TempDir(), "kiln.db"))
			type cell struct {
				id      string
				misfire kilntype.MisfirePolicy
				overlap kilntype.OverlapPolicy
				earlier string // "none", "running" (one run runs), "waiting" (and one waits)
				running int64
				before  int // jobs before the pass
			}
			var cells []*cell
			for _, misfire := range []kilntype.MisfirePolicy{kilntype.MisfireRunOnce, kilntype.MisfireSkip, kilntype.MisfireRunAll} {
				for _, overlap := range []kilntype.OverlapPolicy{kilntype.OverlapSkip, kilntype.OverlapAllow, kilntype.OverlapQueueOne} {
					for _, earlier := range []string{"none", "running", "waiting"} {
						c := &cell{id: fmt.Sprintf("%s-%s-%s", misfire, overlap, earlier), misfire: misfire, overlap: overlap, earlier: earlier}
						cells = append(cells, c)
						_, _, err := st.RecurringUpsert(ctx, &store.RecurringUpsertParams{Now: base, Row: &kilntype.RecurringRow{
							ID: c.id, Schedule: sc.schedule, Kind: "k", Args: []byte(`{}`), Queue: c.id, Priority: 1,
							MaxAttempts: 1, Metadata: []byte(`{}`), Overlap: overlap, Misfire: misfire, MisfireMax: 100,
							NextRunAt: base, CreatedAt: base, UpdatedAt: base,
						}})
						if err != nil {
							t.Fatal(err)
						}
						if earlier == "none" {
							continue
						}
						// An earlier occurrence's job, claimed; and one waiting for it.
						enqueue := func(at time.Time, overlap kilntype.OverlapPolicy) {
							t.Helper()
							_, err := st.RecurringEnqueue(ctx, &store.RecurringEnqueueParams{ID: c.id, Overlap: overlap, Now: base,
								Occurrences: []store.RecurringOccurrenceInsert{{At: at, Job: &store.JobInsertParams{
									Kind: "k", Queue: c.id, Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
									State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}}}})
							if err != nil {
								t.Fatal(err)
							}
						}
						enqueue(base.Add(-2*time.Minute), kilntype.OverlapAllow)
						claimed, err := st.JobClaim(ctx, &store.JobClaimParams{Queue: c.id, Max: 1, Kinds: []string{"k"}, LeasedBy: "p",
							LeaseExpiresAt: base.Add(time.Hour), Now: base})
						if err != nil || len(claimed) != 1 {
							t.Fatalf("claim: %v, %v", claimed, err)
						}
						c.running, c.before = claimed[0].ID, 1
						if earlier == "waiting" {
							enqueue(base.Add(-time.Minute), kilntype.OverlapQueueOne)
							c.before = 2
						}
					}
				}
			}

			if err := newScheduler(st, func() time.Time { return sc.now }).pass(ctx); err != nil {
				t.Fatal(err)
			}

			for _, c := range cells {
				k := sc.want[c.misfire]
				wantJobs, firstWaits := k, int64(0)
				switch {
				case c.overlap == kilntype.OverlapAllow || c.earlier == "none":
				case c.overlap == kilntype.OverlapQueueOne && c.earlier == "running":
					firstWaits = c.running
				default: // blocked by the earlier runs
					wantJobs = 0
				}
				jobs := entryJobs(t, st, c.id)[c.before:]
				if len(jobs) != wantJobs {
					t.Errorf("%s: %d jobs, want %d", c.id, len(jobs), wantJobs)
					continue
				}
				for i, job := range jobs {
					want := int64(0) // allow: nothing waits
					switch {
					case c.overlap == kilntype.OverlapAllow:
					case i == 0:
						want = firstWaits
					default:
						want = jobs[i-1].ID // one at a time
					}
					if got := waitsFor(t, job); got != want {
						t.Errorf("%s: job %d of %d waits for %d, want %d", c.id, i+1, len(jobs), got, want)
					}
				}
			}
		})
	}
}

// cancelAfterEnqueue cancels the pass's context once RecurringEnqueueMany
// has committed: the leader deposed at that moment.
type cancelAfterEnqueue struct {
	store.Store
	cancel context.CancelFunc
}

func (s *cancelAfterEnqueue) RecurringEnqueueMany(ctx context.Context, params []*store.RecurringEnqueueParams) ([][]store.RecurringOccurrenceResult, error) {
	res, err := s.Store.RecurringEnqueueMany(ctx, params)
	s.cancel()
	return res, err
}

// TestEntryErrorIsWrittenWithItsEnqueue checks that a pass cut short right
// after its enqueue committed (its leader deposed, as happens under load
// with a short LeaderTTL) leaves the entry's error written: it is not a
// second write that the next pass, which finds the entry no longer due,
// would never make.
func TestEntryErrorIsWrittenWithItsEnqueue(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "kiln.db"))
	addEntry(t, st, "foreign", "* * * * *", base)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := newScheduler(&cancelAfterEnqueue{Store: st, cancel: cancel}, func() time.Time { return base })
	s.cfg.HasWorker = func(string) bool { return false }
	_ = s.pass(ctx) // may fail: its context ends after the enqueue
	// Elected again: the entry is no longer due.
	if err := s.pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := countJobs(t, st); n != 1 {
		t.Fatalf("%d jobs, want 1", n)
	}
	row, err := st.RecurringGet(context.Background(), &store.RecurringGetParams{ID: "foreign"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(row.LastError, `no worker for kind "k"`) {
		t.Fatalf("entry error = %q", row.LastError)
	}
}
