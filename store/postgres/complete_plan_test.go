package postgres

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlCompletePlanData fills a migrated schema with $1 jobs, in ID order: a
// tenth running (leased by p), a fifth available, the rest completed, as a
// busy database's table holds them. It does not analyze the table.
const sqlCompletePlanData = `
INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt, max_attempts,
	created_at, scheduled_at, attempted_at, finalized_at, leased_by, lease_expires_at)
SELECT 'k' || (g % 4), 'q' || (g % 5), '{}', st.state, 1, 1, 3, t.at, t.at, t.at,
	CASE WHEN st.state = 'completed' THEN t.at END,
	CASE WHEN st.state = 'running' THEN 'p' END,
	CASE WHEN st.state = 'running' THEN t.at + interval '1 minute' END
FROM generate_series(1, $1) AS g,
	LATERAL (SELECT timestamptz '2030-01-01 00:00:00+00' + g * interval '1 second' AS at) AS t,
	LATERAL (SELECT CASE WHEN g % 10 = 3 THEN 'running' WHEN g % 10 < 3 THEN 'available'
		ELSE 'completed' END AS state) AS st`

// TestCompletePlan checks with EXPLAIN that sqlCompleteJobs (and its
// output variant), after sqlLookupSettings, has the one plan that locks
// the jobs in the order of its batch (which completeJobs sorts by ID) and
// reads no job but the batch's: a nested loop that reads the batch's rows
// in order and looks each job up by primary key; and that sqlLeaseRenew
// has the one plan that reads its jobs by primary key in ID order,
// whatever order its array lists them in. It does so whatever
// PostgreSQL knows of the table: on tables of 0, 300, 5,000 and 100,000
// jobs, never analyzed and then analyzed, for batches of 3 and 100, with
// custom and generic plans. Without the settings, PostgreSQL plans a hash
// join over a sequential scan of kiln_job on small tables; with the state
// checked as state = 'running', a hash join over the whole index of running
// jobs (kiln_job_state_inflight's running range, kiln_job_running since
// migration 032) on tables without statistics (and a renewal reads
// that range too).
func TestCompletePlan(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, rows := range []int{0, 300, 5_000, 100_000} {
		t.Run(fmt.Sprint(rows), func(t *testing.T) {
			t.Parallel()
			s := NewForTest(t)
			if _, err := s.pool.Exec(t.Context(), s.expand(sqlCompletePlanData), rows); err != nil {
				t.Fatal(err)
			}
			for _, analyzed := range []bool{false, true} {
				if analyzed {
					if _, err := s.pool.Exec(t.Context(), s.expand(`ANALYZE {s}.kiln_job`)); err != nil {
						t.Fatal(err)
					}
				}
				for _, n := range []int{3, 100} {
					// Running jobs (IDs 3, 13, 23, ...), sorted.
					ids, leasedBy := make([]int64, n), make([]string, n)
					attemptedAt, finalizedAt, outputs := make([]*time.Time, n), make([]time.Time, n), make([]*string, n)
					for i := range n {
						ids[i], leasedBy[i], finalizedAt[i] = int64(10*i+3), "p", now
					}
					// A renewal's IDs come in any order.
					reversed := slices.Clone(ids)
					slices.Reverse(reversed)
					for _, q := range []struct {
						name, query string
						args        []any
						check       func(t *testing.T, name, plan string)
					}{
						{"complete", sqlCompleteJobs, []any{ids, leasedBy, attemptedAt, finalizedAt, leasedBy},
							wantBatchOrder},
						{"complete with outputs", sqlCompleteJobsOutput,
							[]any{ids, leasedBy, attemptedAt, finalizedAt, leasedBy, outputs}, wantBatchOrder},
						{"lease renew", sqlLeaseRenew, []any{nil, reversed, "p", time.Minute}, wantKeyOrder},
					} {
						for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
							name := fmt.Sprintf("%s of %d, %d jobs, analyzed %v, %s", q.name, n, rows, analyzed, mode)
							plan, err := explainAfter(t.Context(), s.pool, sqlLookupSettings, s.sql(q.query), mode, q.args)
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							q.check(t, name, plan)
						}
					}
				}
			}
		})
	}
}

// wantBatchOrder fails the test unless plan, a plan of sqlCompleteJobs,
// updates the rows of a nested loop whose outer side reads the batch (f)
// and whose inner side finds each job by primary key, and reads kiln_job
// nowhere else.
func wantBatchOrder(t *testing.T, name, plan string) {
	t.Helper()
	sub := planNode(plan, "CTE moved")
	var nodes []string
	for i, line := range sub {
		l := strings.TrimSpace(line)
		if !strings.HasPrefix(l, "->") {
			continue
		}
		l = strings.TrimSpace(strings.TrimPrefix(l, "->"))
		if c := strings.Index(l, "  (cost="); c >= 0 {
			l = l[:c]
		}
		if strings.Contains(l, "kiln_job_pkey") {
			l += " " + strings.Join(nodeDetails(sub[i+1:]), " ")
		}
		nodes = append(nodes, l)
	}
	want := []string{"Update on kiln_job j", "Nested Loop", "Function Scan on f",
		"Index Scan using kiln_job_pkey on kiln_job j Index Cond: (id = ANY (ARRAY[f.id]))"}
	got := nodes
	if len(got) == len(want) {
		// The filter's text is the statement's business, not the plan's.
		got = slices.Clone(nodes)
		if i := strings.Index(got[3], " Filter:"); i >= 0 {
			got[3] = got[3][:i]
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: the UPDATE does not follow the batch's order:\n%s", name, plan)
	}
}

// wantKeyOrder fails the test unless plan, a plan of sqlLeaseRenew, updates
// the rows of a scan of the primary key for the array of IDs (which reads
// them in ID order), and reads kiln_job nowhere else.
func wantKeyOrder(t *testing.T, name, plan string) {
	t.Helper()
	lines := strings.Split(plan, "\n")
	var nodes []string
	for i, line := range lines {
		l := strings.TrimSpace(line)
		if i > 0 && !strings.HasPrefix(l, "->") {
			continue
		}
		l = strings.TrimSpace(strings.TrimPrefix(l, "->"))
		if c := strings.Index(l, "  (cost="); c >= 0 {
			l = l[:c]
		}
		if strings.Contains(l, "kiln_job_pkey") {
			if d := nodeDetails(lines[i+1:]); len(d) > 0 && strings.HasPrefix(d[0], "Index Cond: (id = ANY (") {
				l += " by IDs"
			}
		}
		nodes = append(nodes, l)
	}
	want := []string{"Update on kiln_job", "Index Scan using kiln_job_pkey on kiln_job by IDs"}
	if !slices.Equal(nodes, want) {
		t.Errorf("%s: the UPDATE does not read the jobs in ID order by primary key:\n%s", name, plan)
	}
}

// TestFinishPlansOnce checks that the finish and the lease renewal of one
// job at a time, as an idle queue runs them, reuse the generic plan of
// their prepared statement rather than planning each call. PostgreSQL's
// plan cache plans a prepared statement's first five executions for their
// parameters, and after that keeps planning each one whenever those custom
// plans cost less than the generic plan, as they do for a batch of one job
// on an analyzed table: planning then took 0.2–0.5 ms per finish, more than
// the 0.1–0.2 ms it ran (the generic plan: 0.01 ms), on the pool's
// connection, in every enqueue-to-start latency sample. sqlLookupSettings
// sets plan_cache_mode to force_generic_plan for the statement it precedes;
// TestCompletePlan checks that the generic plan locks in ID order.
func TestFinishPlansOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// One connection: the pool's prepared statements are all on it.
	s := OpenForTest(t, &Options{Schema: SchemaForTest(t), MaxConns: 1, Migrate: true, CallerClock: true})
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	const jobs = 8
	params := make([]*store.JobInsertParams, jobs)
	for i := range params {
		params[i] = &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{}`),
			Priority: 1, MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}
	}
	if _, err := s.JobInsertMany(ctx, params); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, s.expand(`ANALYZE {s}.kiln_job`)); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: jobs, AnyKind: true, LeasedBy: "p",
		LeaseExpiresAt: base.Add(time.Minute), Now: base})
	if err != nil || len(claimed) != jobs {
		t.Fatalf("JobClaim = %d jobs, %v; want %d", len(claimed), err, jobs)
	}
	for _, j := range claimed {
		if _, err := s.JobLeaseRenew(ctx, &store.JobLeaseRenewParams{LeasedBy: "p", IDs: []int64{j.ID},
			LeaseExpiresAt: base.Add(2 * time.Minute), Now: base}); err != nil {
			t.Fatal(err)
		}
		moved, err := s.JobFinishMany(ctx, []*store.JobFinishParams{{ID: j.ID, LeasedBy: "p", AttemptedAt: *j.AttemptedAt,
			State: kilntype.JobStateCompleted, Now: base, Attempt: kilntype.JobAttempt{Attempt: j.Attempt,
				StartedAt: base, Server: "p", Outcome: kilntype.AttemptSucceeded}}})
		if err != nil || len(moved) != 1 {
			t.Fatalf("JobFinishMany = %v, %v; want job %d completed", moved, err, j.ID)
		}
	}
	for _, q := range []struct{ name, sql string }{
		{"finish", sqlCompleteJobs},
		{"lease renewal", sqlLeaseRenew},
	} {
		var generic, custom int64
		err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(generic_plans), 0), coalesce(sum(custom_plans), 0)
			FROM pg_prepared_statements WHERE statement = $1`, s.sql(q.sql)).Scan(&generic, &custom)
		if err != nil {
			t.Fatal(err)
		}
		if generic != jobs || custom != 0 {
			t.Errorf("%s of one job, %d times: %d generic and %d custom plans; want %d generic, none custom",
				q.name, jobs, generic, custom, jobs)
		}
	}
}
