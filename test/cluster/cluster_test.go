package cluster

import (
	"context"
	"fmt"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/jobs/httpjob"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// jobCount is how many jobs each cluster test runs.
const jobCount = 20_000

// workersPerProcess is each process's --queues default=N.
const workersPerProcess = 50

// cluster is one test's Kiln cluster: a schema of its own in the test
// database, the store and enqueue-only client that the test uses on it
// (connected directly, never through a proxy), the recorder that the jobs
// call, and the kiln serve processes.
type cluster struct {
	t      *testing.T
	dbURL  string
	schema string
	store  *postgres.Store
	client *kiln.Client
	rec    *recorder
	ids    []int64       // job IDs by job number
	number map[int64]int // job numbers by ID
	procs  []*process
}

// newCluster migrates a new schema and starts a recorder for jobs jobs.
// It skips the test when there is no test database.
func newCluster(t *testing.T, jobs int) *cluster {
	t.Helper()
	dbURL := pgtest.URL(t)
	kilnBinary(t) // built now, not while the test measures or waits
	c := &cluster{t: t, dbURL: dbURL, schema: pgtest.Schema(t), number: make(map[int64]int, jobs)}
	st, err := postgres.Open(context.Background(), dbURL, &postgres.Options{Schema: c.schema, Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c.store = st
	if c.client, err = kiln.NewClient(&kiln.Config{Store: st}); err != nil {
		t.Fatal(err)
	}
	// Each request is held 5 ms: about what a quick webhook takes.
	c.rec = newRecorder(t, jobs, 5*time.Millisecond)
	return c
}

// serveURL returns the --database URL of process name: base (the test
// database's URL, or the proxy's) with the cluster's schema, and
// appName(name) as the connections' application_name so that the test can
// find them in pg_stat_activity.
func (c *cluster) serveURL(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		c.t.Fatal(err)
	}
	q := u.Query()
	q.Set("kiln_schema", c.schema)
	q.Set("application_name", c.appName(name))
	u.RawQuery = q.Encode()
	return u.String()
}

// appName returns the application_name of process name's connections:
// the schema and the name, unique on the server (at most 63 bytes).
func (c *cluster) appName(name string) string { return c.schema + "/" + name }

// start starts n processes kiln-1 to kiln-n on base with the extra serve
// arguments, and waits until they run.
func (c *cluster) start(base string, n int, extra ...string) {
	c.t.Helper()
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("kiln-%d", i)
		args := append([]string{"--queues", fmt.Sprintf("default=%d", workersPerProcess), "--dashboard-addr", "off"}, extra...)
		c.procs = append(c.procs, startServe(c.t, name, c.serveURL(base, name), args...))
	}
	for _, p := range c.procs {
		p.waitReady(c.t)
	}
}

// enqueue enqueues the jobs, in batches of 1,000, while the processes run.
func (c *cluster) enqueue() {
	c.t.Helper()
	const batch = 1000
	n := len(c.rec.hits)
	for first := 0; first < n; first += batch {
		params := make([]kiln.EnqueueParams, 0, batch)
		for i := first; i < min(first+batch, n); i++ {
			params = append(params, kiln.EnqueueParams{Args: httpjob.Args{URL: c.rec.url(i)}})
		}
		res, err := c.client.EnqueueMany(context.Background(), params)
		if err != nil {
			c.t.Fatalf("enqueue jobs %d to %d: %v", first, first+len(params)-1, err)
		}
		for _, r := range res {
			c.number[r.Job.ID] = len(c.ids)
			c.ids = append(c.ids, r.Job.ID)
		}
	}
}

// waitExecuted waits until the recorder has seen n requests.
func (c *cluster) waitExecuted(n int) {
	c.t.Helper()
	waitFor(c.t, time.Minute, fmt.Sprintf("%d executions", n), func() (bool, error) {
		return c.rec.total.Load() >= int64(n), nil
	})
}

// waitCompleted waits until every job is completed, and fails at once if
// one ended otherwise.
func (c *cluster) waitCompleted(timeout time.Duration) {
	c.t.Helper()
	var last map[kilntype.JobState]int
	waitFor(c.t, timeout, "every job to complete", func() (bool, error) {
		counts, err := c.client.JobCountByState(context.Background())
		if err != nil {
			return false, err
		}
		last = counts
		if counts[kilntype.JobStateCancelled]+counts[kilntype.JobStateDiscarded] > 0 {
			c.t.Fatalf("jobs ended without completing: %v", counts)
		}
		return counts[kilntype.JobStateCompleted] == len(c.ids), nil
	})
	c.t.Logf("jobs by state: %v; %d requests on %d HTTP connections", last, c.rec.total.Load(), c.rec.conns.Load())
}

// attempt is one row of kiln_job_attempt.
type attempt struct {
	server  string
	outcome kilntype.AttemptOutcome
}

// attempts returns every job's attempts, oldest first: its rows in
// kiln_job_attempt, then the successful attempt that a completed job's row
// records itself (attempted_by, migration 009).
func (c *cluster) attempts() map[int64][]attempt {
	c.t.Helper()
	rows, err := c.store.Pool().Query(context.Background(), `SELECT job_id, server, outcome FROM (
		SELECT job_id, server, outcome, id AS seq FROM `+c.table("kiln_job_attempt")+`
		UNION ALL
		SELECT id, attempted_by, 'succeeded', NULL FROM `+c.table("kiln_job")+`
		WHERE state = 'completed' AND attempted_by IS NOT NULL
	) AS a ORDER BY job_id, seq NULLS LAST`)
	if err != nil {
		c.t.Fatal(err)
	}
	byJob := make(map[int64][]attempt, len(c.ids))
	var (
		id int64
		a  attempt
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &a.server, &a.outcome}, func() error {
		byJob[id] = append(byJob[id], a)
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return byJob
}

// verdict is what checkJobs found.
type verdict struct {
	// interrupted holds the jobs with an interrupted attempt, and the
	// servers that lost them.
	interrupted map[int64][]string
	// duplicates holds the jobs that ran more than once, and how often.
	duplicates map[int64]int
}

// checkJobs checks, once every job completed, that each ran at least once
// (none lost), that each has one succeeded attempt and otherwise only
// interrupted ones, and that a job ran more than once only if it has an
// interrupted attempt for each extra run: a process lost it (it died, or
// its lease expired while the database was out of reach). A copy whose
// lease expired while the database was out of reach, and that then
// succeeded, reports its success too (every outcome is history, applied or
// not): so a job may have one more succeeded attempt per interrupted one.
func (c *cluster) checkJobs() verdict {
	c.t.Helper()
	v := verdict{interrupted: map[int64][]string{}, duplicates: map[int64]int{}}
	byJob := c.attempts()
	lost := 0
	for n, id := range c.ids {
		runs := c.rec.executions(n)
		if runs == 0 {
			lost++
			if lost <= 10 {
				c.t.Errorf("job %d (number %d) completed without a request reaching the test server", id, n)
			}
		}
		succeeded := 0
		for _, a := range byJob[id] {
			switch a.outcome {
			case kilntype.AttemptSucceeded:
				succeeded++
			case kilntype.AttemptInterrupted:
				v.interrupted[id] = append(v.interrupted[id], a.server)
			default:
				c.t.Errorf("job %d has a %s attempt by %s", id, a.outcome, a.server)
			}
		}
		if succeeded < 1 || succeeded-1 > len(v.interrupted[id]) {
			c.t.Errorf("job %d has %d succeeded attempts and %d interrupted, want 1 succeeded, plus at most one per interrupted: %+v",
				id, succeeded, len(v.interrupted[id]), byJob[id])
		}
		if runs > 1 {
			v.duplicates[id] = runs
			if extra := runs - 1; extra > len(v.interrupted[id]) {
				c.t.Errorf("job %d ran %d times but has %d interrupted attempts: %+v", id, runs, len(v.interrupted[id]), byJob[id])
			}
		}
	}
	if lost > 0 {
		c.t.Errorf("%d of %d jobs never reached the test server", lost, len(c.ids))
	}
	return v
}

// countBy runs query, whose rows are (name, count), and returns the
// counts by name.
func (c *cluster) countBy(query string, args ...any) (map[string]int, error) {
	rows, err := c.store.Pool().Query(context.Background(), query, args...)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	var (
		name string
		n    int
	)
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		counts[name] = n
		return nil
	})
	return counts, err
}

// connections returns how many server sessions each process has open, by
// process name; processes without any are left out.
func (c *cluster) connections() (map[string]int, error) {
	return c.countBy(`SELECT substr(application_name, length($1) + 1), count(*) FROM pg_stat_activity
		WHERE starts_with(application_name, $1) GROUP BY 1`, c.appName(""))
}

// checkConnections checks that no process holds more sessions than its
// pool allows, plus the one its notification listener takes out of the
// pool: a process that reconnects must not pile connections up.
func (c *cluster) checkConnections() {
	c.t.Helper()
	conns, err := c.connections()
	if err != nil {
		c.t.Fatal(err)
	}
	most := max(4, runtime.NumCPU()) + 1 // pgxpool's default MaxConns, and the listener
	for name, n := range conns {
		if n > most {
			c.t.Errorf("%s has %d sessions open, want at most %d", name, n, most)
		}
	}
	c.t.Logf("sessions by process: %v", conns)
}

// checkRecovered checks that every process still running completed jobs
// that it started after since: each came back after the outage.
func (c *cluster) checkRecovered(since time.Time) {
	c.t.Helper()
	// A completed job's row records its successful attempt (migration
	// 009); successes recorded as rows (a stale copy's) count too.
	done, err := c.countBy(`SELECT server, count(*) FROM (
		SELECT server FROM `+c.table("kiln_job_attempt")+` WHERE outcome = 'succeeded' AND started_at > $1
		UNION ALL
		SELECT attempted_by FROM `+c.table("kiln_job")+`
		WHERE state = 'completed' AND attempted_by IS NOT NULL AND attempted_at > $1
	) AS s GROUP BY 1`, since)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, p := range c.procs {
		if !p.killed && done[p.name] == 0 {
			c.t.Errorf("%s completed no job after the outage: %v", p.name, done)
		}
	}
	c.t.Logf("jobs completed after the outage, by process: %v", done)
}

// table returns the quoted name of a table of the cluster's schema.
func (c *cluster) table(name string) string { return pgx.Identifier{c.schema, name}.Sanitize() }

// stopAll checks that every process that the test did not kill still
// runs, then stops each as Ctrl+C does and checks that it exits with
// status 0; and that no process logged a data race or a panic.
func (c *cluster) stopAll() {
	c.t.Helper()
	for _, p := range c.procs {
		if !p.killed {
			p.stop(c.t, 30*time.Second)
		}
		p.checkLogs(c.t)
	}
}
