package postgres

import (
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestPollingReadsNoForeignJobs checks, as TestClaimReadsOnlyItsKinds does
// for the claim, that the statements an idle process repeats (the
// maintenance leader's due-job promotion, rescue of expired leases,
// cleaner, resolver, stats fold, server reaper, election and recurring
// scheduler; every process's cancel polling; the dashboard's counters,
// queue list, history and first pages of jobs) read about as many pages as
// they have work, however many jobs wait in the queue. With foreignJobs
// available jobs queued, and one job of work for each of promotion, rescue
// and cleaner, each statement, with a custom and with a generic plan, does
// its work, and fetches fewer than 100 blocks of the schema's tables and
// indexes and reads fewer than 100 of their index entries and rows, plus 2
// of each for each row it returns or changes, counted by PostgreSQL itself
// (pg_stat_get_xact_blocks_fetched, hits and reads, and
// pg_stat_get_xact_tuples_returned, in the statement's transaction, which
// is rolled back). A statement that walked the queue's available jobs
// would read foreignJobs entries, and fetch 120 blocks or more of them.
func TestPollingReadsNoForeignJobs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	queueForeignJobs(t, s, now)
	// The work: a due scheduled job, a running one whose lease expired, a
	// completed one two days old.
	minute, old := now.Add(-time.Minute), now.Add(-48*time.Hour)
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	attempt, max_attempts, created_at, scheduled_at, attempted_at, leased_by, lease_expires_at, finalized_at)
VALUES ('mine', 'q', '{}', 'scheduled', 1, 0, 1, $1, $1, NULL, NULL, NULL, NULL),
	('mine', 'q', '{}', 'running', 1, 1, 2, $1, $1, $1, 'gone', $1, NULL),
	('mine', 'q', '{}', 'completed', 1, 1, 1, $2, $2, $2, NULL, NULL, $2)`), minute, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, s.expand(`VACUUM ANALYZE {s}.kiln_job`)); err != nil {
		t.Fatal(err)
	}
	// The cleaner's front at the completed job: it reads its first chunk
	// from there, the foreign jobs after it among them.
	var oldID int64
	if err := s.pool.QueryRow(ctx, s.expand(`SELECT id FROM {s}.kiln_job WHERE kind = 'mine' AND state = 'completed'`)).
		Scan(&oldID); err != nil {
		t.Fatal(err)
	}
	available, availableArgs, _ := jobListQuery(&store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable},
		Limit: store.DefaultListLimit})
	all, allArgs, _ := jobListQuery(&store.JobListParams{Limit: store.DefaultListLimit})
	for _, q := range []struct {
		name  string
		work  bool // it must return or change a row
		query string
		args  []any
	}{
		{"schedule due", true, sqlScheduleDue, []any{now, 1000}},
		{"rescue", true, sqlRescue, []any{now, 1000, now}},
		{"clean read", true, sqlCleanRead, []any{oldID, int64(math.MaxInt64), cleanFirstChunk}},
		{"clean lock", true, sqlCleanLock, []any{[]int64{oldID}}},
		{"resolve pending", false, sqlResolvePending, []any{now, 1000}},
		{"stats fold", false, sqlFold, []any{now.Truncate(time.Minute)}},
		{"reap servers", false, sqlServerDeleteStale, []any{nil, time.Hour.Microseconds()}}, // on the database's clock, as the reaper runs
		{"leader elect", true, sqlLeaderElect, []any{"maintenance", "p", nil, 10 * time.Second}},
		{"recurring next due", false, sqlRecurringNextDue, nil},
		{"recurring list due", false, sqlRecurringListDue, []any{now, 100}},
		{"list cancel requested", false, sqlListCancelRequested, []any{"p"}},
		{"count by state", true, sqlJobCountByState, nil},
		{"count by queue and state", true, sqlJobCountByQueueState, nil},
		{"queue list", true, sqlQueueList, nil},
		{"history", false, sqlJobHistory, []any{now.Add(-time.Hour), now, time.Minute.Microseconds()}},
		{"first page of available jobs", true, available, availableArgs},
		{"first page of jobs", true, all, allArgs},
	} {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			var fetched, read, rows int
			err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode); err != nil {
					return err
				}
				var before, readBefore int
				if err := tx.QueryRow(ctx, sqlBlocksFetched, s.schema).Scan(&before, &readBefore); err != nil {
					return err
				}
				r, err := tx.Query(ctx, s.sql(q.query), q.args...)
				if err != nil {
					return err
				}
				for r.Next() {
					rows++
				}
				r.Close()
				if err := r.Err(); err != nil {
					return err
				}
				rows = max(rows, int(r.CommandTag().RowsAffected()))
				if err := tx.QueryRow(ctx, sqlBlocksFetched, s.schema).Scan(&fetched, &read); err != nil {
					return err
				}
				fetched -= before
				read -= readBefore
				return tx.Rollback(ctx)
			})
			if err != nil && err != pgx.ErrTxClosed {
				t.Fatalf("%s, %s: %v", q.name, mode, err)
			}
			t.Logf("%s, %s: %d rows, %d blocks fetched, %d entries read", q.name, mode, rows, fetched, read)
			if q.work && rows == 0 {
				t.Errorf("%s, %s: no row returned or changed", q.name, mode)
			}
			if limit := 100 + 2*rows; fetched >= limit {
				t.Errorf("%s, %s: fetched %d blocks with %d jobs of another kind queued, want < %d",
					q.name, mode, fetched, foreignJobs, limit)
			}
			if limit := 100 + 2*rows; read >= limit {
				t.Errorf("%s, %s: read %d index entries and rows with %d jobs of another kind queued, want < %d",
					q.name, mode, read, foreignJobs, limit)
			}
		}
	}
}

// sqlBlocksFetched sums the blocks (hits and reads) that the current
// transaction fetched from the tables and indexes of schema $1, and the
// index entries and rows it read from them (tuples returned: by index
// scans from indexes, by sequential scans from tables).
const sqlBlocksFetched = `SELECT coalesce(sum(pg_catalog.pg_stat_get_xact_blocks_fetched(c.oid)), 0)::int,
	coalesce(sum(pg_catalog.pg_stat_get_xact_tuples_returned(c.oid)), 0)::int
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'i', 'p', 'I')`
