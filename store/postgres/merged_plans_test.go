package postgres

import (
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestMergedPagePlans checks with EXPLAIN, under custom and generic plans,
// that the dashboard's pages of a kind or a queue over every state, and of
// available jobs of a kind (JobList as the Jobs page sends them: a page of
// 51, args previewed), read each state's index (see jobListMergeQuery):
// the final states through kiln_job_finished, the kind or queue an index
// condition; the in-flight states through their indexes, the running jobs
// through kiln_job_running (all of its entries: the running jobs are few),
// the others through kiln_job_state_waiting or kiln_job_due and
// kiln_job_pending (or a range of the primary key that the tiers before
// bound); the available
// jobs of a rare kind through kiln_job_claim_kind, sorted; never a
// sequential scan nor an unbounded walk of the primary key.
// Before, these pages walked the primary key through every job newer than
// the page's last (on 1,000,000 jobs, a kind of 0.1 %: 51,000 rows,
// 12-24 ms; docs/benchmarks.md, "dash1m: dashboard pages of a kind or
// queue at 1,000,000 jobs").
func TestMergedPagePlans(t *testing.T) {
	t.Parallel()
	s := NewForTest(t)
	fillTables(t, s, sqlFinishedPlanData)
	available := []kilntype.JobState{kilntype.JobStateAvailable}
	for _, c := range []struct {
		name      string
		params    store.JobListParams
		walk      store.AvailableWalk // what availableWalkFor must choose
		finished  string              // kiln_job_finished's Index Cond has it ("": not read)
		inflight  bool                // kiln_job_running is read
		available string              // the available jobs' index ("": none read)
	}{
		{"rare kind", store.JobListParams{Kinds: []string{"k9"}}, store.AvailableSorted, "kind =", true, "kiln_job_claim_kind"},
		{"rare kind after a cursor", store.JobListParams{Kinds: []string{"k9"}, Cursor: 5000},
			store.AvailableSorted, "kind =", true, "kiln_job_claim_kind"},
		{"rare queue", store.JobListParams{Queues: []string{"qr"}}, store.AvailableSorted, "queue =", true, "kiln_job_claim_kind"},
		{"common kind", store.JobListParams{Kinds: []string{"k1"}}, store.AvailableInline, "kind =", true, "kiln_job_pkey"},
		{"available of a rare kind", store.JobListParams{States: available, Kinds: []string{"k9"}},
			store.AvailableSorted, "", false, "kiln_job_claim_kind"},
	} {
		c.params.Limit, c.params.ArgsPreview = 51, 100
		walk, err := s.availableWalkFor(t.Context(), s.pool, &c.params)
		if err != nil {
			t.Fatal(err)
		}
		if walk != c.walk {
			t.Errorf("%s: available jobs read as %d, want %d", c.name, walk, c.walk)
		}
		q, args, ok := jobListMergeQuery(&c.params, store.MergedListStates(&c.params), walk)
		if !ok {
			t.Fatalf("%s: nothing to match", c.name)
		}
		q, args = withArgsPreview(q, args, c.params.ArgsPreview, "id DESC")
		eachPlan(t, s, c.name, q, args, func(mode, plan string) {
			wantNoSeqScan(t, c.name, mode, plan)
			if c.finished != "" {
				// A final state's arm: the filter checked on the entry.
				n := 0
				for _, line := range strings.Split(plan, "\n") {
					if !strings.Contains(line, " using kiln_job_finished on kiln_job") {
						continue
					}
					n++
					cond := strings.Join(nodeDetails(planNode(plan, line)[1:]), " ")
					if !strings.Contains(cond, "Index Cond: ") || !strings.Contains(cond[strings.Index(cond, "Index Cond: "):], c.finished) {
						t.Errorf("%s, %s: kiln_job_finished read without %q as an index condition: %s\n%s",
							c.name, mode, c.finished, cond, plan)
					}
				}
				if n == 0 {
					t.Errorf("%s, %s: kiln_job_finished not read\n%s", c.name, mode, plan)
				}
			}
			if got := strings.Contains(plan, "kiln_job_running"); c.inflight && !got {
				t.Errorf("%s, %s: does not read kiln_job_running\n%s", c.name, mode, plan)
			}
			if c.available != "" && !strings.Contains(plan, " using "+c.available+" on kiln_job") &&
				!strings.Contains(plan, "Bitmap Index Scan on "+c.available+" ") {
				t.Errorf("%s, %s: does not read %s\n%s", c.name, mode, c.available, plan)
			}
			// The primary key: the page's IDs; with many available jobs
			// of the kind, their walk; or a range that the tiers before
			// bound (id >= their reach), which holds no more rows than
			// the page's walk did before.
			for _, line := range strings.Split(plan, "\n") {
				if !strings.Contains(line, "kiln_job_pkey") || c.available == "kiln_job_pkey" {
					continue
				}
				d := strings.Join(nodeDetails(planNode(plan, line)[1:]), " ")
				if !strings.Contains(d, "id = ANY") && !strings.Contains(d, "id >= $") {
					t.Errorf("%s, %s: reads the primary key unbounded: %s\n%s", c.name, mode, d, plan)
				}
			}
		})
	}
}
