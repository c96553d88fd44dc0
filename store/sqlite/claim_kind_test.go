package sqlite

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/kilnjobs/kiln/store"
)

// foreignJobs is how many available jobs of a kind no claim asks for
// TestClaimReadsOnlyItsKinds queues ahead of the claimed ones.
const foreignJobs = 20_000

// queueForeignJobs queues foreignJobs available jobs of kind "foreign" in
// queue "q" of s, created and due an hour before now.
func queueForeignJobs(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	if _, err := s.w.ExecContext(t.Context(), `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ?2)
INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at)
SELECT 'foreign', 'q', '{}', 'available', 1, 1, ?1, ?1 FROM g`, micros(now.Add(-time.Hour)), foreignJobs); err != nil {
		t.Fatal(err)
	}
}

// TestClaimReadsOnlyItsKinds checks that a claim reads about as many
// pages as it takes jobs, however many jobs of other kinds wait ahead of
// them in the queue: with foreignJobs available jobs of kind "foreign"
// first in claim order and one job of each kind claimed, a claim of those
// kinds (one kind; three, merged; three with a kind limit, in rounds)
// takes them and fetches fewer than 100 pages from the writer's page
// cache (SQLite's own count, sqlite3_db_status CACHE_HIT + CACHE_MISS, the
// claim's transaction included). A claim that walked the queue and
// filtered the kinds fetches every page of the queue's index range and of
// the rows it points to: about 470 here, growing with foreignJobs.
func TestClaimReadsOnlyItsKinds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	queueForeignJobs(t, s, now)

	for _, tc := range []struct {
		name   string
		kinds  []string
		limits map[string]int
	}{
		{"one kind", []string{"mine"}, nil},
		{"three kinds", []string{"mine", "mine2", "mine3"}, nil},
		{"three kinds with a limit", []string{"mine", "mine2", "mine3"}, map[string]int{"mine2": 1}},
	} {
		var want []int64
		for _, kind := range tc.kinds {
			var id int64
			if err := s.w.QueryRowContext(ctx, `INSERT INTO kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at) VALUES (?2, 'q', '{}', 'available', 1, 1, ?1, ?1) RETURNING id`,
				micros(now), kind).Scan(&id); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		params := &store.JobClaimParams{Queue: "q", Kinds: tc.kinds, KindLimits: tc.limits, Max: 10,
			LeasedBy: "p", LeaseExpiresAt: now.Add(time.Minute), Now: now}
		// A first claim prepares the statements (which reads the schema):
		// it finds nothing in a queue of its own.
		warm := *params
		warm.Queue = "other"
		if _, err := s.JobClaim(ctx, &warm); err != nil {
			t.Fatal(err)
		}
		pagesFetched(t, s.w) // resets the counters
		claimed, err := s.JobClaim(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		pages := pagesFetched(t, s.w)
		var got []int64
		for _, j := range claimed {
			got = append(got, j.ID)
		}
		if len(got) != len(want) {
			t.Errorf("%s: claimed %v, want %v", tc.name, got, want)
		}
		t.Logf("%s: %d pages fetched", tc.name, pages)
		if pages >= 100 {
			t.Errorf("%s: the claim fetched %d pages with %d jobs of another kind queued, want < 100",
				tc.name, pages, foreignJobs)
		}
	}
}

// pagesFetched returns the pages that the connection of db (a pool of one
// connection, not in use) fetched from its page cache since the previous
// call, hits and misses, and resets the counts.
func pagesFetched(t *testing.T, db *sql.DB) int {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.Raw(func(dc any) error {
		for _, op := range []sqlite.DBStatusOp{sqlite.DBStatusCacheHit, sqlite.DBStatusCacheMiss} {
			cur, _, err := dc.(sqlite.DBStatus).Status(op, true)
			if err != nil {
				return err
			}
			n += cur
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
