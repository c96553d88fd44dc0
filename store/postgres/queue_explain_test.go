package postgres

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestQueuePlans checks with EXPLAIN, on the tables of TestQueryPlans
// (explainRows jobs in 5 queues) and with some queues paused, that claims
// never read kiln_job sequentially, with custom and generic plans; that
// QueueList and JobCountByState take their counts from the counters
// (kiln_job_count and its deltas) and that QueueList reads kiln_job only
// by seeks of kiln_job_claim_kind under a LIMIT (the first entry of a
// range, in index order: no scan of the available jobs); and that
// QueueList's counts and oldest available jobs match a plain GROUP BY.
//
// kiln_queue and the counters may be read sequentially: they have a row
// per queue (and state) or per delta not folded yet, a page or two, and the
// planner rightly prefers reading them to walking an index.
func TestQueuePlans(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	fillTables(t, s, sqlExplainData)
	if _, err := s.pool.Exec(ctx, s.sql(`INSERT INTO {s}.kiln_queue (name, paused, updated_at)
SELECT 'q' || g, g % 2 = 1, now() FROM generate_series(0, 49) AS g`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, s.sql(`ANALYZE {s}.kiln_queue`)); err != nil {
		t.Fatal(err)
	}

	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	none := []string{}
	// A line of a plan that reads the table kiln_job itself (not
	// kiln_job_count), and one that reads the first entries of
	// kiln_job_claim_kind in its order.
	readsJobs := regexp.MustCompile(`\bon kiln_job( |$)`)
	seeksAvailable := regexp.MustCompile(`^\s*->  Index (Only )?Scan using kiln_job_claim_kind on kiln_job( |$)`)
	for _, q := range []struct {
		name  string
		query string
		args  []any
	}{
		{"claim of a paused queue", sqlClaim(2, false), []any{"q1", now, nil, none, 10, 10, none, []int32{}, "p", nil, time.Minute,
			[]string{"k1", "k2"}}},
		{"claim of a queue not paused", sqlClaim(2, false), []any{"q2", now, nil, none, 10, 10, none, []int32{}, "p", nil, time.Minute,
			[]string{"k1", "k2"}}},
		{"queue list", sqlQueueList, nil},
		{"job count by state", sqlJobCountByState, nil},
	} {
		eachPlan(t, s, q.name, q.query, q.args, func(mode, plan string) {
			lines := strings.Split(plan, "\n")
			seeks := 0
			for i, line := range lines {
				if !readsJobs.MatchString(line) {
					continue
				}
				switch {
				case strings.Contains(line, "Seq Scan on kiln_job"):
					t.Errorf("%s, %s: %s\n%s", q.name, mode, strings.TrimSpace(line), plan)
				case q.name == "job count by state":
					t.Errorf("%s, %s: reads kiln_job: %s\n%s", q.name, mode, strings.TrimSpace(line), plan)
				case q.name == "queue list" && (!seeksAvailable.MatchString(line) || i == 0 ||
					!strings.Contains(lines[i-1], "->  Limit") || !seeksQueue(lines[i+1:])):
					t.Errorf("%s, %s: reads kiln_job other than by a seek of kiln_job_claim_kind "+
						"on the queue under a LIMIT: %s\n%s", q.name, mode, strings.TrimSpace(line), plan)
				default:
					seeks++
				}
			}
			if q.name == "queue list" && seeks == 0 {
				t.Errorf("%s, %s: the oldest available jobs are not read from kiln_job_claim_kind\n%s", q.name, mode, plan)
			}
		})
	}

	// The counts and oldest available jobs, against a plain GROUP BY of
	// every job.
	rows, err := s.QueueList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]int{}
	oldest := map[string]time.Time{}
	r, err := s.pool.Query(ctx, s.sql(`SELECT queue, state, count(*), min(scheduled_at) FROM {s}.kiln_job
GROUP BY queue, state`))
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var (
			queue, state string
			n            int
			at           time.Time
		)
		if err := r.Scan(&queue, &state, &n, &at); err != nil {
			t.Fatal(err)
		}
		if want[queue] == nil {
			want[queue] = map[string]int{}
		}
		want[queue][state] = n
		if state == "available" {
			oldest[queue] = at
		}
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
		if at, ok := oldest[row.Name]; ok != (row.OldestAvailableAt != nil) || ok && !row.OldestAvailableAt.Equal(at) {
			t.Errorf("queue %s: OldestAvailableAt %v, want %v (none if zero)", row.Name, row.OldestAvailableAt, at)
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

// seeksQueue reports whether the details of a plan's index scan node (the
// lines after it, up to its first child or sibling) seek the queue: an
// index condition on it and no filter, which would read entries the
// condition does not bound (as a queue compared in another collation than
// the index's is).
func seeksQueue(details []string) bool {
	cond := false
	for _, d := range details {
		d = strings.TrimSpace(d)
		switch {
		case strings.HasPrefix(d, "->"):
			return cond
		case strings.HasPrefix(d, "Filter:"):
			return false
		case strings.HasPrefix(d, "Index Cond: ((queue = ") || strings.HasPrefix(d, "Index Cond: (queue = "):
			cond = true
		}
	}
	return cond
}
