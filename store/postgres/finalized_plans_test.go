package postgres

import (
	"context"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestFinalizedPlansWithoutIndex prints, with and without
// kiln_job_finalized_kind (dropped by migration 026; for "with", built as
// migration 011 did in the measuring transaction, then rolled back), the
// plans and times (EXPLAIN ANALYZE, custom and generic plans, the least of
// three runs) of the reads that could use it: the dashboard's pages of
// finalized jobs (JobList), a bulk action's bounded count
// (JobCountMatching with a Limit), the cleaner's read and lock of a chunk,
// and the two statements of an older version's cleaner
// (sqlOldFinalizedKinds, sqlOldLockGroup), on a schema of 1,000,000 jobs
// (docs/benchmarks.md, "PostgreSQL: the cleaner by ID ranges" and
// "PostgreSQL indexes of kiln_job, 2026-12-06 sixth session"). It
// measures, asserts nothing, and runs only with $KILN_EXPLAIN_1M set:
// "common" (90 % of the jobs finalized, as under the default retention) or
// "rare" (1 % finalized, behind a backlog of available jobs). The schema
// stays, for the next run.
func TestFinalizedPlansWithoutIndex(t *testing.T) {
	mix := os.Getenv("KILN_EXPLAIN_1M")
	if mix == "" {
		t.Skip("set KILN_EXPLAIN_1M=common or rare to measure (builds a schema of 1,000,000 jobs)")
	}
	ctx := context.Background()
	schema := "kiln_explain_1m_" + mix
	s := OpenForTest(t, &Options{Schema: schema, MaxConns: 2, Migrate: true})
	var n int
	if err := s.pool.QueryRow(ctx, s.expand(`SELECT count(*) FROM (SELECT FROM {s}.kiln_job LIMIT 10) AS j`)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		// Job g: kind k(g % 10), but k9 on one job in a thousand; the
		// oldest 90 % (common) or 1 % (rare) finalized (completed, every
		// 50th discarded, every 100th cancelled), the rest available
		// with every 100th running and every 20th scheduled.
		final := map[string]int{"common": 900_000, "rare": 10_000}[mix]
		if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	attempt, max_attempts, created_at, scheduled_at, attempted_at, leased_by, lease_expires_at, finalized_at)
SELECT CASE WHEN g % 1000 = 7 THEN 'k9' ELSE 'k' || (g % 9) END, 'q', '{"n":1}', st, 1, 1, 3, t, t,
	CASE WHEN st = 'running' THEN t END, CASE WHEN st = 'running' THEN 'p' END, CASE WHEN st = 'running' THEN t END,
	CASE WHEN st IN ('completed', 'discarded', 'cancelled') THEN t END
FROM (SELECT g, timestamptz '2030-01-01' + g * interval '10 ms' AS t,
	CASE WHEN g <= $1 THEN CASE WHEN g % 100 = 3 THEN 'cancelled' WHEN g % 50 = 1 THEN 'discarded' ELSE 'completed' END
		WHEN g % 100 = 5 THEN 'running' WHEN g % 20 = 2 THEN 'scheduled' ELSE 'available' END AS st
	FROM generate_series(1, 1000000) AS g) AS j`), final); err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Exec(ctx, s.expand(`VACUUM ANALYZE {s}.kiln_job`)); err != nil {
			t.Fatal(err)
		}
	}
	finalized := []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateCancelled, kilntype.JobStateDiscarded}
	discarded := []kilntype.JobState{kilntype.JobStateDiscarded}
	type stmt struct {
		name  string
		query string
		args  []any
	}
	var stmts []stmt
	for _, c := range []struct {
		name string
		p    store.JobListParams
	}{
		{"page of completed jobs", store.JobListParams{States: finalized[:1]}},
		{"page of discarded jobs", store.JobListParams{States: discarded}},
		{"page of discarded jobs after a cursor", store.JobListParams{States: discarded, Cursor: 5000}},
		{"page of finalized jobs of kind k1", store.JobListParams{States: finalized, Kinds: []string{"k1"}}},
		{"page of finalized jobs of the rare kind k9", store.JobListParams{States: finalized, Kinds: []string{"k9"}}},
		{"page of discarded jobs of the rare kind k9", store.JobListParams{States: discarded, Kinds: []string{"k9"}}},
	} {
		c.p.Limit, c.p.ArgsPreview = store.DefaultListLimit, 100
		q, args, _ := jobListQuery(&c.p)
		stmts = append(stmts, stmt{"JobList: " + c.name, q, args})
	}
	for _, c := range []struct {
		name string
		f    kilntype.JobFilter
	}{
		{"discarded jobs of kind k1", kilntype.JobFilter{States: discarded, Kinds: []string{"k1"}}},
		{"discarded jobs of the rare kind k9", kilntype.JobFilter{States: discarded, Kinds: []string{"k9"}}},
		{"finalized jobs of the rare kind k9", kilntype.JobFilter{States: finalized, Kinds: []string{"k9"}}},
	} {
		lp := store.BulkListParamsFor(&c.f, 0, 0, 0)
		from, _, where, args, _ := jobListWhere(lp)
		from, args = idRange(lp, from, args)
		args = append(args, 1001)
		q := `SELECT count(*) FROM (SELECT 1 FROM ` + from + ` WHERE ` + strings.Join(where, " AND ") +
			` LIMIT $` + strconv.Itoa(len(args)) + `) AS m`
		stmts = append(stmts, stmt{"bounded count (1,001): " + c.name, q, args})
	}
	// An older leader's pass: the kinds of each final state, then each
	// kind's group (here: half of the completed jobs of kind k1 due).
	cutoff := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(map[string]time.Duration{
		"common": 450_000, "rare": 5_000}[mix] * 10 * time.Millisecond)
	chunk := make([]int64, 1000)
	for i := range chunk {
		chunk[i] = int64(2001 + i)
	}
	stmts = append(stmts,
		stmt{"cleaner: read a chunk of 1,000 jobs", sqlCleanRead, []any{int64(2001), int64(math.MaxInt64), 1000}},
		stmt{"cleaner: lock a chunk of 1,000 jobs", sqlCleanLock, []any{chunk}},
		stmt{"older cleaner: kinds of the completed jobs", sqlOldFinalizedKinds, []any{"completed"}},
		stmt{"older cleaner: lock a group of 1,000 completed jobs of kind k1", sqlOldLockGroup,
			[]any{"completed", "k1", cutoff, []string{}, false, 1000}})
	timeRE := regexp.MustCompile(`Execution Time: ([0-9.]+) ms`)
	for _, st := range stmts {
		for _, drop := range []bool{false, true} {
			for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
				conn, err := s.pool.Acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				c := conn.Hijack()
				best, plan := -1.0, ""
				err = func() error {
					defer c.Close(ctx)
					for _, q := range []string{"BEGIN", "SET LOCAL plan_cache_mode = " + mode} {
						if _, err := c.Exec(ctx, q); err != nil {
							return err
						}
					}
					if !drop {
						if _, err := c.Exec(ctx, s.expand(sqlFinalizedKindRebuild011)); err != nil {
							return err
						}
					}
					if _, err := c.Prepare(ctx, "p", s.sql(st.query)); err != nil {
						return err
					}
					ph := make([]string, len(st.args))
					for i := range ph {
						ph[i] = "$" + strconv.Itoa(i+1)
					}
					for range 3 {
						rows, err := c.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) EXECUTE p("+strings.Join(ph, ", ")+")",
							append([]any{pgx.QueryExecModeSimpleProtocol}, st.args...)...)
						if err != nil {
							return err
						}
						lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
						if err != nil {
							return err
						}
						out := strings.Join(lines, "\n")
						if m := timeRE.FindStringSubmatch(out); m != nil {
							if v, _ := strconv.ParseFloat(m[1], 64); best < 0 || v < best {
								best, plan = v, out
							}
						}
					}
					_, err := c.Exec(ctx, "ROLLBACK")
					return err
				}()
				if err != nil {
					t.Fatalf("%s: %v", st.name, err)
				}
				t.Logf("%s, %s, without the index %v: %.2f ms\n%s", st.name, mode, drop, best, plan)
			}
		}
	}
}

// sqlFinalizedKindRebuild011 builds kiln_job_finalized_kind as migration
// 011 did, in a transaction.
const sqlFinalizedKindRebuild011 = `CREATE INDEX kiln_job_finalized_kind
    ON {s}.kiln_job (state, kind, finalized_at) WHERE finalized_at IS NOT NULL`

// sqlOldFinalizedKinds is the first statement of the cleaner of versions
// before the cleaner by ID ranges (d4f3672), as they send it: the kinds
// among the finalized jobs of state $1, by a loose scan of
// kiln_job_finalized_kind.
const sqlOldFinalizedKinds = `WITH RECURSIVE k AS (
	(SELECT kind FROM {s}.kiln_job WHERE state = $1 AND finalized_at IS NOT NULL ORDER BY kind LIMIT 1)
	UNION ALL
	SELECT (SELECT j.kind FROM {s}.kiln_job AS j
		WHERE j.state = $1 AND j.finalized_at IS NOT NULL AND j.kind > k.kind ORDER BY j.kind LIMIT 1)
	FROM k WHERE k.kind IS NOT NULL
)
SELECT kind FROM k WHERE kind IS NOT NULL`

// sqlOldLockGroup is the second statement of that cleaner, sent once per
// kind and retention group: it locks up to $6 jobs of state $1 and kind $2
// finalized before $3, oldest first, read from kiln_job_finalized_kind.
const sqlOldLockGroup = `WITH doomed AS (
	SELECT id FROM {s}.kiln_job AS o
	WHERE state = $1 AND kind = $2 AND finalized_at < $3 AND (queue = ANY($4::text[])) = $5
		AND NOT EXISTS (SELECT 1 FROM {s}.kiln_job_parent AS d
			JOIN {s}.kiln_job AS c ON c.id = d.child_id
			WHERE d.parent_id = o.id AND c.state = 'pending' OFFSET 0)
	ORDER BY finalized_at LIMIT $6
)
SELECT id FROM {s}.kiln_job
WHERE id = ANY(ARRAY(SELECT id FROM doomed)) AND state = $1 AND kind = $2 AND finalized_at < $3
FOR UPDATE SKIP LOCKED`
