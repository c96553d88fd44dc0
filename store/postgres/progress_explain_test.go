package postgres

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlProgressExplainData fills a migrated schema with explainRows jobs, a
// tenth of them tagged (one of 100 tags, through the insert trigger), a
// tenth of the rest running, and 10 log lines for each running job, then
// analyzes the tables.
const sqlProgressExplainData = `
INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at,
	attempted_at, leased_by, tags)
SELECT 'k', 'q', jsonb_build_object('n', g), CASE WHEN g % 10 = 1 THEN 'running' ELSE 'completed' END, 1, 3,
	t.at, t.at, t.at, 'p', CASE WHEN g % 10 = 0 THEN ARRAY['customer:' || (g % 1000)] ELSE '{}' END
FROM generate_series(1, $1) AS g,
	LATERAL (SELECT timestamptz '2030-01-01 00:00:00+00' + g * interval '1 second' AS at) AS t;
INSERT INTO {s}.kiln_job_log (job_id, seq, attempt, logged_at, message)
SELECT id, k, 1, created_at, 'line' FROM {s}.kiln_job, generate_series(1, 10) AS k WHERE state = 'running';
ANALYZE {s}.kiln_job, {s}.kiln_job_tag, {s}.kiln_job_log`

// TestProgressQueryPlans checks with EXPLAIN that the statements of job
// progress, logs and JobList's tag filter read through indexes, never with
// a sequential scan, on a table of explainRows jobs (see TestQueryPlans).
func TestProgressQueryPlans(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	fillTables(t, s, sqlProgressExplainData)
	check := func(name, query string, args []any) {
		eachPlan(t, s, name, query, args, func(mode, plan string) { wantNoSeqScan(t, name, mode, plan) })
	}
	at := time.Date(2030, 1, 1, 0, 0, 1, 0, time.UTC)
	tagQuery := func(p *store.JobListParams) (string, []any) {
		q, args, ok := jobListQuery(p)
		if !ok {
			t.Fatal("jobListQuery: nothing to match")
		}
		return q, args
	}
	for _, q := range []struct {
		name  string
		query string
		args  []any
	}{
		{"progress set", sqlProgressSet, []any{int64(1), "p", at, 50}},
		{"log append", sqlLogAppend, []any{int64(1), "p", at, 2, []time.Time{at, at}, []string{"a", "b"}, 1000}},
		{"log list", sqlLogList, []any{int64(1), int64(0), 100}},
		{"log tail", sqlLogTail, []any{int64(1), int64(0), 100}},
	} {
		check(q.name, q.query, q.args)
	}
	for name, p := range map[string]*store.JobListParams{
		"list tag":           {Tag: "customer:10", Limit: 101},
		"list tag page":      {Tag: "customer:10", Cursor: 5000, Limit: 101},
		"list tag asc":       {Tag: "customer:10", OrderAsc: true, Limit: 101},
		"list tag and state": {Tag: "customer:10", States: []kilntype.JobState{"completed"}, Limit: 101},
	} {
		query, args := tagQuery(p)
		check(name, query, args)
	}
}
