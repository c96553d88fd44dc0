package cluster

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// envRestart names the variable that allows TestPostgresRestart to
// restart the PostgreSQL server.
const envRestart = "KILN_TEST_PG_RESTART"

// restartTimings are the serve timings of the restart tests: a lease of
// 6 s, longer than the outage, so that a process that reconnects in time
// keeps its jobs (a lease that lapses makes them run again, which the tests
// allow, with an interrupted attempt); and quick rescue and re-election.
var restartTimings = []string{"--lease-duration", "6s", "--rescue-interval", "250ms", "--leader-ttl", "1500ms"}

// TestPostgresOutage runs 20,000 jobs on three processes that reach
// PostgreSQL through a proxy, and drops every connection, refusing new
// ones, for 2 s while the jobs run: what the processes see of a server
// restart. Every process must reconnect and carry on, and every job must
// complete, none lost.
func TestPostgresOutage(t *testing.T) {
	c := newCluster(t, jobCount)
	u, err := url.Parse(c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	proxy := startProxy(t, net.JoinHostPort(u.Hostname(), port))
	u.Host = proxy.Addr()

	begin := time.Now()
	c.start(u.String(), 3, restartTimings...)
	c.enqueue()
	c.waitExecuted(jobCount / 4)
	proxy.Cut()
	// The outage lasts 2 s, as a quick restart does (this is the fault's
	// length, not a wait for something to happen).
	<-time.After(2 * time.Second)
	if proxy.refused.Load() == 0 {
		t.Error("no process tried to connect during the outage")
	}
	proxy.Resume()
	back := time.Now()
	c.finishAfterOutage(begin, back)
}

// TestPostgresRestart is TestPostgresOutage with a real restart of the
// PostgreSQL server of $KILN_TEST_POSTGRES_URL (pg_ctlcluster ... restart,
// as root, on Debian's layout). Every session of the server is dropped, so
// it runs only when KILN_TEST_PG_RESTART=1: CI runs it alone, after the
// other tests.
func TestPostgresRestart(t *testing.T) {
	if os.Getenv(envRestart) != "1" {
		t.Skip(envRestart + " is not 1, so the PostgreSQL server is not restarted; " +
			"run this test alone, with " + envRestart + "=1, on a server that no other test uses meanwhile")
	}
	c := newCluster(t, jobCount)
	version, name := serverCluster(t, c.dbURL)
	// Runs before the schema is dropped (cleanups run last first).
	t.Cleanup(func() { waitPostgres(t, c.dbURL) })

	begin := time.Now()
	c.start(c.dbURL, 3, restartTimings...)
	c.enqueue()
	c.waitExecuted(jobCount / 4)
	down := time.Now()
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart").CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctlcluster %s %s restart: %v\n%s", version, name, err, out)
	}
	waitPostgres(t, c.dbURL)
	seen := time.Now()
	// The outage ends when the new server starts, not when this test sees it
	// up: pg_ctlcluster has taken 13 s to return under load (CI, 2026-12-06),
	// while the processes had reconnected and finished every job, so that a
	// test's clock made none of them "after the outage".
	back := postmasterStart(t, c.dbURL)
	t.Logf("restarted PostgreSQL %s cluster %s: server started %s after the stop began; the test saw it up after %s",
		version, name, back.Sub(down).Round(time.Millisecond), seen.Sub(down).Round(time.Millisecond))
	c.store.Pool().Reset() // the test's own connections died too
	c.finishAfterOutage(begin, back)
}

// postmasterStart returns when the server at dbURL started
// (pg_postmaster_start_time, the server's clock: this machine's).
func postmasterStart(t *testing.T, dbURL string) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var started time.Time
	if err := conn.QueryRow(ctx, "SELECT pg_postmaster_start_time()").Scan(&started); err != nil {
		t.Fatal(err)
	}
	return started
}

// finishAfterOutage waits for every job to complete after an outage that
// ended at back, and checks that none was lost, that only jobs whose
// lease lapsed ran twice, that every process came back, and that none
// piles up connections.
func (c *cluster) finishAfterOutage(begin, back time.Time) {
	c.t.Helper()
	c.waitCompleted(2 * time.Minute)
	took := time.Since(begin)
	v := c.checkJobs()
	c.checkRecovered(back)
	c.checkConnections()
	c.stopAll()
	c.t.Logf("%d jobs on 3 processes of %d workers in %s, all completed %s after the outage; "+
		"%d jobs lost their lease, %d ran twice or more",
		len(c.ids), workersPerProcess, took.Round(time.Millisecond), time.Since(back).Round(time.Millisecond),
		len(v.interrupted), len(v.duplicates))
}

// serverCluster returns the version and name of the PostgreSQL cluster of
// this machine that listens on dbURL's port, as pg_lsclusters lists them
// ("15 main 5432 online ...").
func serverCluster(t *testing.T, dbURL string) (version, name string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pg_lsclusters", "--no-header").Output()
	if err != nil {
		t.Fatalf("pg_lsclusters: %v (the test restarts a local server of Debian's postgresql-common)", err)
	}
	port := strconv.Itoa(int(cfg.Port))
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) >= 3 && f[2] == port {
			return f[0], f[1]
		}
	}
	t.Fatalf("no local PostgreSQL cluster listens on port %s:\n%s", port, out)
	return "", ""
}

// waitPostgres waits until the server at dbURL accepts a connection again.
func waitPostgres(t *testing.T, dbURL string) {
	t.Helper()
	waitFor(t, time.Minute, "PostgreSQL to accept connections", func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return false, err
		}
		return true, conn.Close(ctx)
	})
}
