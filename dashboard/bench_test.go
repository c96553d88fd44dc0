package dashboard_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
	"github.com/kilnjobs/kiln/store/sqlite"
	"github.com/kilnjobs/kiln/store/storetest"
)

// benchQueues and benchTags shape the seeded jobs: job i is in queue
// "queue-<i%benchQueues>" with tag "tag-<i%benchTags>".
const (
	benchQueues = 10
	benchTags   = 100
)

// sqlBenchStates gives the seeded jobs their states, per 100 IDs: 70
// completed, 5 discarded, 5 retryable, 2 cancelled, 1 running and the rest
// (17) available, as a busy installation that keeps a day of finished jobs
// might hold. The store's triggers keep the counters and the history.
var sqlBenchStates = []string{
	`UPDATE kiln_job SET state = 'completed', attempt = 1, attempted_at = created_at, finalized_at = created_at + 1000 WHERE id % 100 < 70`,
	`UPDATE kiln_job SET state = 'discarded', attempt = 25, attempted_at = created_at, finalized_at = created_at + 1000,
		last_error = 'boom' WHERE id % 100 BETWEEN 70 AND 74`,
	`UPDATE kiln_job SET state = 'retryable', attempt = 1, attempted_at = created_at, scheduled_at = created_at + 3600000000,
		last_error = 'boom' WHERE id % 100 BETWEEN 75 AND 79`,
	`UPDATE kiln_job SET state = 'cancelled', finalized_at = created_at + 1000 WHERE id % 100 BETWEEN 80 AND 81`,
	`UPDATE kiln_job SET state = 'running', attempt = 1, attempted_at = created_at, leased_by = 'bench',
		lease_expires_at = created_at + 3600000000 WHERE id % 100 = 82`,
}

// BenchmarkPages measures each dashboard page on a SQLite store of
// $KILN_BENCH_JOBS jobs (skipped when unset), served in-process (no
// network); the goal is under 100 ms per page with 1,000,000 jobs:
//
//	KILN_BENCH_JOBS=1000000 go test -run '^$' -bench Pages -benchtime 20x ./dashboard/
//
// The jobs are enqueued through the client (EnqueueMany, so the store's
// indexes, tag table and counters are those of real use), then moved to
// their states with bulk SQL (see sqlBenchStates).
func BenchmarkPages(b *testing.B) {
	n, err := strconv.Atoi(os.Getenv(storetest.EnvBenchJobs))
	if err != nil || n < 1 {
		b.Skipf("set %s to a number of jobs (e.g. 1000000) to run the page benchmarks", storetest.EnvBenchJobs)
	}
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "kiln.db")
	st, err := sqlite.Open(ctx, path, &sqlite.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	client, err := kiln.NewClient(&kiln.Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	seedBench(b, client, path, n)
	b.Logf("seeded %d jobs in %v", n, time.Since(start).Round(time.Millisecond))
	if _, err := client.RecurringAddOrUpdate(ctx, kiln.RecurringJob{ID: "nightly", Schedule: "0 3 * * *", Args: okArgs{}}); err != nil {
		b.Fatal(err)
	}
	wfParent, wfMember := seedWorkflows(b, client)
	h, err := dashboard.New(client, nil)
	if err != nil {
		b.Fatal(err)
	}
	mid := n / 2
	for _, page := range []string{
		"/", "/?partial=live", "/?partial=history",
		"/jobs", "/jobs?state=available", "/jobs?state=discarded", "/jobs?state=pending",
		"/jobs?queue=queue-3", "/jobs?kind=test.ok", "/jobs?tag=tag-42", "/jobs?q=order-" + strconv.Itoa(mid),
		"/jobs?state=completed&queue=queue-3&cursor=" + strconv.Itoa(mid),
		fmt.Sprintf("/jobs/%d", mid), "/jobs/new",
		"/recurring", "/recurring/new", "/queues", "/servers", "/services",
		"/recurring/nightly", fmt.Sprintf("/jobs/%d/workflow", wfParent), fmt.Sprintf("/jobs/%d/workflow", wfMember),
		"/batches/bench-batch", "/audit",
		"/bulk/new?action=retry&state=discarded", "/bulk/new?action=retry&state=discarded&kind=test.ok",
	} {
		b.Run(page, func(b *testing.B) {
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, page, nil)
				r.RemoteAddr = "127.0.0.1:1"
				r.Host = "localhost"
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", page, w.Code, w.Body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
		})
	}
}

// seedBench enqueues n jobs through client in batches, then sets their
// states with SQL on the database at path.
func seedBench(b *testing.B, client *kiln.Client, path string, n int) {
	ctx := context.Background()
	const batch = 5000
	params := make([]kiln.EnqueueParams, 0, batch)
	for i := range n {
		params = append(params, kiln.EnqueueParams{
			Args: okArgs{Text: fmt.Sprintf("order-%d", i)},
			Opts: &kiln.EnqueueOpts{
				Queue: fmt.Sprintf("queue-%d", i%benchQueues),
				Tags:  []string{fmt.Sprintf("tag-%d", i%benchTags)},
			},
		})
		if len(params) == batch || i == n-1 {
			if _, err := client.EnqueueMany(ctx, params); err != nil {
				b.Fatalf("enqueue: %v", err)
			}
			params = params[:0]
		}
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, q := range sqlBenchStates {
		if _, err := db.ExecContext(ctx, q); err != nil {
			b.Fatalf("seed states: %v", err)
		}
	}
}
