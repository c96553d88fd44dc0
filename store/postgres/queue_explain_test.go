package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestQueuePlans checks with EXPLAIN, on the tables of TestQueryPlans
// (explainRows jobs in 5 queues) and with some queues paused, that claims
// and QueueList never read kiln_job sequentially, with custom and generic
// plans, and that QueueList's counts match a plain GROUP BY. (QueueList's
// scans are index-only only where the visibility map allows, and jobs
// inserted or moved since the last vacuum are not: in a busy table expect
// one heap read per counted job, which the planner may then batch as a
// bitmap heap scan, as it does here.)
//
// kiln_queue itself may be read sequentially: it has one row per queue ever
// paused, a page or two, and the planner rightly prefers reading them to
// walking the primary key.
func TestQueuePlans(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	for _, stmt := range strings.Split(sqlExplainData, ";\n") {
		var err error
		if strings.Contains(stmt, "$1") {
			_, err = s.pool.Exec(ctx, s.expand(stmt), explainRows)
		} else {
			_, err = s.pool.Exec(ctx, s.expand(stmt))
		}
		if err != nil {
			t.Fatalf("fill the tables: %v\n%s", err, stmt)
		}
	}
	if _, err := s.pool.Exec(ctx, s.sql(`INSERT INTO {s}.kiln_queue (name, paused, updated_at)
SELECT 'q' || g, g % 2 = 1, now() FROM generate_series(0, 49) AS g`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, s.sql(`ANALYZE {s}.kiln_queue`)); err != nil {
		t.Fatal(err)
	}

	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	none := []string{}
	for _, q := range []struct {
		name  string
		query string
		args  []any
	}{
		{"claim of a paused queue", sqlClaim, []any{"q1", now, nil, none, 10, 10, none, []int32{}, "p", now}},
		{"claim of a queue not paused", sqlClaim, []any{"q2", now, nil, none, 10, 10, none, []int32{}, "p", now}},
		{"queue list", sqlQueueList, nil},
	} {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			plan, err := explain(ctx, s.pool, s.sql(q.query), mode, q.args)
			if err != nil {
				t.Fatalf("%s, %s: %v", q.name, mode, err)
			}
			if mode == "force_custom_plan" {
				t.Logf("%s:\n%s", q.name, plan)
			}
			for _, line := range strings.Split(plan, "\n") {
				if strings.Contains(line, "Seq Scan on kiln_job") {
					t.Errorf("%s, %s: %s\n%s", q.name, mode, strings.TrimSpace(line), plan)
				}
			}
			if q.name == "queue list" && !strings.Contains(plan, " on kiln_job_claim_available") {
				t.Errorf("%s, %s: available jobs are not counted through kiln_job_claim_available\n%s", q.name, mode, plan)
			}
		}
	}

	// The counts, against a plain GROUP BY of every job.
	rows, err := s.QueueList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{}
	r, err := s.pool.Query(ctx, s.sql(`SELECT queue, state, count(*) FROM {s}.kiln_job GROUP BY queue, state`))
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var (
			queue, state string
			n            int
		)
		if err := r.Scan(&queue, &state, &n); err != nil {
			t.Fatal(err)
		}
		if want[queue] == nil {
			want[queue] = map[string]int{}
		}
		want[queue][state] = n
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 50 {
		t.Errorf("QueueList listed %d queues, want the 50 of kiln_queue", len(rows))
	}
	for _, row := range rows {
		w := want[row.Name]
		if row.Available != w["available"] || row.Scheduled != w["scheduled"] ||
			row.Running != w["running"] || row.Retryable != w["retryable"] {
			t.Errorf("queue %s: %+v, want counts %v", row.Name, row, w)
		}
		var n int
		if _, err := fmt.Sscanf(row.Name, "q%d", &n); err != nil {
			t.Fatalf("queue %q: %v", row.Name, err)
		}
		if row.Paused != (n%2 == 1) {
			t.Errorf("queue %s: Paused = %v, want %v", row.Name, row.Paused, n%2 == 1)
		}
	}
}
