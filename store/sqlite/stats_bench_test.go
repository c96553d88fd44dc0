package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
	"github.com/kilnjobs/kiln/store/storetest"
)

// BenchmarkRead measures a dashboard's reads on a store of
// $KILN_BENCH_JOBS jobs (see storetest.BenchRead):
//
//	KILN_BENCH_JOBS=1000000 go test -run XXX -bench Read ./store/sqlite/
func BenchmarkRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "kiln.db")
	storetest.BenchRead(b, func(b *testing.B) store.Store {
		s, err := sqlite.Open(b.Context(), path, &sqlite.Options{Migrate: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s
	}, func(b *testing.B, _ store.Store, n int, now time.Time) { seedJobs(b, path, n, now) })
}

// sqlSeedJobs inserts ?1 jobs as storetest.SeedFunc describes them, ending
// at ?2 (Unix microseconds): job i is created at ?2 - 1 day + i * 1 day / ?1.
const sqlSeedJobs = `WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < ?1),
j AS (
	SELECT i, ?2 - 86400000000 + i * (86400000000 / ?1) AS at,
		CASE WHEN i % 100 < 70 THEN 'completed' WHEN i % 100 < 80 THEN 'available'
			WHEN i % 100 < 85 THEN 'scheduled' WHEN i % 100 < 90 THEN 'retryable'
			WHEN i % 100 < 95 THEN 'discarded' WHEN i % 100 < 97 THEN 'cancelled'
			WHEN i % 100 < 98 THEN 'running' ELSE 'pending' END AS state
	FROM s
)
INSERT INTO kiln_job (kind, queue, args, state, priority, attempt, max_attempts, created_at,
	scheduled_at, attempted_at, finalized_at, leased_by, lease_expires_at)
SELECT 'kind-' || (i / 7 % 20), 'queue-' || (i / 3 % 10), '{"n":' || i || '}', state, i % 4 + 1,
	CASE WHEN state IN ('available', 'scheduled', 'pending') THEN 0 ELSE 1 END, 25, at,
	CASE state WHEN 'scheduled' THEN ?2 + 3600000000 + i WHEN 'retryable' THEN ?2 + 600000000 + i ELSE at END,
	CASE WHEN state IN ('available', 'scheduled', 'pending') THEN NULL ELSE at + 1000000 END,
	CASE WHEN state IN ('completed', 'discarded', 'cancelled') THEN at + 2000000 END,
	CASE state WHEN 'running' THEN 'bench' END,
	CASE state WHEN 'running' THEN ?2 + 60000000 END
FROM j`

// sqlSeedHistory writes a week of minutes before the minute of ?1 (Unix
// microseconds) for each of the 10 queues, and sqlSeedTotalHistory sums
// them for every queue.
const (
	sqlSeedHistory = `WITH RECURSIVE m(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM m WHERE i < 7 * 24 * 60),
q(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM q WHERE n < 9)
INSERT INTO kiln_job_queue_history (queue, minute, completed, failed)
SELECT 'queue-' || n, ?1 / 60000000 * 60000000 - i * 60000000, 100 + i % 50, i % 7 FROM m, q`
	sqlSeedTotalHistory = `INSERT INTO kiln_job_history (minute, completed, failed)
SELECT minute, sum(completed), sum(failed) FROM kiln_job_queue_history GROUP BY minute`
)

// seedJobs fills the database at path through a connection of its own.
func seedJobs(b *testing.B, path string, n int, now time.Time) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, step := range []struct {
		what  string
		query string
		args  []any
	}{
		{"jobs", sqlSeedJobs, []any{n, now.UnixMicro()}},
		{"history", sqlSeedHistory, []any{now.UnixMicro()}},
		{"total history", sqlSeedTotalHistory, nil},
	} {
		if _, err := db.ExecContext(ctx, step.query, step.args...); err != nil {
			b.Fatalf("seed %s: %v", step.what, err)
		}
	}
}
