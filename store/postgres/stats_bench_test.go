package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/storetest"
)

// BenchmarkRead measures a dashboard's reads on a store of
// $KILN_BENCH_JOBS jobs (see storetest.BenchRead):
//
//	KILN_BENCH_JOBS=1000000 go test -run XXX -bench Read ./store/postgres/
func BenchmarkRead(b *testing.B) {
	storetest.BenchRead(b, func(b *testing.B) store.Store { return newStore(b) }, seedJobs)
}

// sqlSeedJobs inserts $1 jobs as storetest.SeedFunc describes them, ending
// at $2: job i is created at $2 - 1 day + i * 1 day / $1.
const sqlSeedJobs = `INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt, max_attempts,
	created_at, scheduled_at, attempted_at, finalized_at, leased_by, lease_expires_at)
SELECT 'kind-' || (i / 7 % 20), 'queue-' || (i / 3 % 10), jsonb_build_object('n', i), state, i % 4 + 1,
	CASE WHEN state IN ('available', 'scheduled', 'pending') THEN 0 ELSE 1 END, 25, at,
	CASE state WHEN 'scheduled' THEN $2 + interval '1 hour' + i * interval '1 microsecond'
		WHEN 'retryable' THEN $2 + interval '10 minutes' + i * interval '1 microsecond' ELSE at END,
	CASE WHEN state IN ('available', 'scheduled', 'pending') THEN NULL ELSE at + interval '1 second' END,
	CASE WHEN state IN ('completed', 'discarded', 'cancelled') THEN at + interval '2 seconds' END,
	CASE state WHEN 'running' THEN 'bench' END,
	CASE state WHEN 'running' THEN $2 + interval '1 minute' END
FROM (
	SELECT i, $2::timestamptz - interval '1 day' + i * (interval '1 day' / $1::integer) AS at,
		CASE WHEN i % 100 < 70 THEN 'completed' WHEN i % 100 < 80 THEN 'available'
			WHEN i % 100 < 85 THEN 'scheduled' WHEN i % 100 < 90 THEN 'retryable'
			WHEN i % 100 < 95 THEN 'discarded' WHEN i % 100 < 97 THEN 'cancelled'
			WHEN i % 100 < 98 THEN 'running' ELSE 'pending' END AS state
	FROM generate_series(0, $1::integer - 1) AS i
) AS j`

// sqlSeedHistory writes a week of minutes before the minute of $1 for each
// of the 10 queues, and sqlSeedTotalHistory sums them for every queue.
const (
	sqlSeedHistory = `INSERT INTO {s}.kiln_job_queue_history (queue, minute, completed, failed)
SELECT 'queue-' || q, date_bin('1 minute', $1::timestamptz, TIMESTAMPTZ 'epoch') - m * interval '1 minute',
	100 + m % 50, m % 7
FROM generate_series(1, 7 * 24 * 60) AS m, generate_series(0, 9) AS q`
	sqlSeedTotalHistory = `INSERT INTO {s}.kiln_job_history (minute, completed, failed)
SELECT minute, sum(completed), sum(failed) FROM {s}.kiln_job_queue_history GROUP BY minute`
)

// seedJobs fills s, folds the deltas the insert's trigger appended (the
// leader does every few seconds) and vacuums and analyzes the tables, as
// autovacuum would.
func seedJobs(b *testing.B, st store.Store, n int, now time.Time) {
	ctx := context.Background()
	s := st.(*postgres.Store)
	expand := func(q string) string {
		return strings.ReplaceAll(q, "{s}", pgx.Identifier{s.Schema()}.Sanitize())
	}
	for _, step := range []struct {
		what  string
		query string
		args  []any
	}{
		{"jobs", sqlSeedJobs, []any{n, now}},
		{"history", sqlSeedHistory, []any{now}},
		{"total history", sqlSeedTotalHistory, nil},
	} {
		if _, err := s.Pool().Exec(ctx, expand(step.query), step.args...); err != nil {
			b.Fatalf("seed %s: %v", step.what, err)
		}
	}
	if _, err := s.JobStatsFold(ctx, &store.JobStatsFoldParams{Now: now}); err != nil {
		b.Fatal(err)
	}
	for _, table := range []string{"kiln_job", "kiln_job_count", "kiln_job_count_delta", "kiln_job_history",
		"kiln_job_queue_history"} {
		if _, err := s.Pool().Exec(ctx, expand("VACUUM ANALYZE {s}."+table)); err != nil {
			b.Fatalf("vacuum %s: %v", table, err)
		}
	}
}

// BenchmarkStatsUnfolded measures JobCountByQueueState when the deltas of
// a busy store were not folded yet: each delta moves one job of one of 10
// queues from available to running, as claims append them (one pair per
// claim statement and queue). At 12,000 jobs/s claimed in batches of 100
// and finished likewise, the 2 s between folds append about 1,000 rows.
func BenchmarkStatsUnfolded(b *testing.B) {
	for _, deltas := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("deltas=%d", deltas), func(b *testing.B) {
			ctx := context.Background()
			s := newStore(b)
			_, err := s.Pool().Exec(ctx, strings.ReplaceAll(`INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
				SELECT 'queue-' || (i / 2 % 10), CASE i % 2 WHEN 0 THEN 'available' ELSE 'running' END,
					CASE i % 2 WHEN 0 THEN -1 ELSE 1 END, 0
				FROM generate_series(0, $1::integer - 1) AS i`, "{s}", pgx.Identifier{s.Schema()}.Sanitize()), deltas)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := s.JobCountByQueueState(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}
