package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Timings that make a dead process's jobs come back in seconds rather
// than the default 25 s: a lease of 5 s, looked for every 250 ms, and a
// leader whose term is 1.5 s (the process killed is the leader).
var fastRescue = []string{"--lease-duration", "5s", "--rescue-interval", "250ms", "--leader-ttl", "1500ms"}

// TestKillOneProcess runs 20,000 jobs on three kiln serve processes and
// SIGKILLs one of them, the maintenance leader, while every one of its
// workers has a job in flight. Every job must complete; none may be lost;
// the jobs that the dead process held, and only those, run twice, each
// with an interrupted attempt naming it.
func TestKillOneProcess(t *testing.T) {
	c := newCluster(t, jobCount)
	begin := time.Now()
	c.start(c.dbURL, 3, fastRescue...)
	c.enqueue()
	c.waitExecuted(jobCount / 4)

	// Hold the jobs' requests for a moment, so that every worker of every
	// process has a job in flight, its request received, when the leader
	// dies (without this the dead process may hold none: its jobs take
	// 5 ms and their outcomes are written in batches).
	victim := c.leader()
	c.rec.stall()
	waitFor(t, 30*time.Second, "every worker to have a request in flight", func() (bool, error) {
		return c.rec.parked.Load() >= int64(len(c.procs)*workersPerProcess), nil
	})
	victim.sigkill(t)
	killedAt := time.Now()
	// The server ends the dead process's sessions when it notices their
	// sockets closed; from then on nothing the process sent can commit,
	// and the jobs it holds stay running until the rescuer takes them.
	waitFor(t, 10*time.Second, "the sessions of "+victim.name+" to end", func() (bool, error) {
		conns, err := c.connections()
		return conns[victim.name] == 0, err
	})
	held, err := c.runningJobs(victim.name)
	if err != nil {
		t.Fatal(err)
	}
	c.rec.release()
	// One job per worker, each parked in its request; and, up to as many
	// again, jobs whose worker had returned and whose outcome was on its way
	// to the database (a slot is free once its outcome is queued).
	if len(held) < workersPerProcess || len(held) > 2*workersPerProcess {
		t.Errorf("%s held %d running jobs when it was killed, want %d (one per worker) to %d (and an outcome in flight per worker)",
			victim.name, len(held), workersPerProcess, 2*workersPerProcess)
	}
	inFlight := make(map[int64]bool, len(held))
	for _, id := range held {
		inFlight[id] = true
	}

	c.waitCompleted(2 * time.Minute)
	took := time.Since(begin)
	v := c.checkJobs()
	for id, servers := range v.interrupted {
		if !inFlight[id] {
			t.Errorf("job %d has an interrupted attempt (by %v) but was not held by the killed process", id, servers)
		}
		for _, s := range servers {
			if s != victim.name {
				t.Errorf("job %d has an attempt interrupted in %s; only %s died", id, s, victim.name)
			}
		}
	}
	for id := range inFlight {
		if len(v.interrupted[id]) != 1 || v.duplicates[id] != 2 {
			t.Errorf("job %d, in flight in the killed process, has %d interrupted attempts and ran %d times; want 1 and 2",
				id, len(v.interrupted[id]), c.rec.executions(c.number[id]))
		}
	}
	for id, runs := range v.duplicates {
		if !inFlight[id] {
			t.Errorf("job %d ran %d times but was not held by the killed process", id, runs)
		}
	}
	for _, p := range c.procs {
		// Both the database and these processes stayed up: no lease of
		// theirs lapsed, and a renewal that misses a job whose outcome was
		// just written is no lost lease.
		if !p.killed && p.logged("job lease lost") {
			t.Errorf("%s logged a lost lease", p.name)
		}
	}
	c.checkConnections()
	c.stopAll()
	t.Logf("%d jobs on 3 processes of %d workers in %s (the killed one was the leader); "+
		"%d jobs in flight in the killed process, %d jobs ran twice; all completed %s after the kill",
		len(c.ids), workersPerProcess, took.Round(time.Millisecond), len(held), len(v.duplicates),
		time.Since(killedAt).Round(time.Millisecond))
}

// leader returns the process that leads maintenance, waiting until one
// does.
func (c *cluster) leader() *process {
	c.t.Helper()
	var id string
	waitFor(c.t, 30*time.Second, "a maintenance leader", func() (bool, error) {
		err := c.store.Pool().QueryRow(context.Background(),
			`SELECT leader_id FROM `+c.table("kiln_leader")+` WHERE name = 'maintenance'`).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return err == nil, err
	})
	for _, p := range c.procs {
		if p.name == id {
			return p
		}
	}
	c.t.Fatalf("the leader is %q, not a process of the test", id)
	return nil
}

// runningJobs returns the IDs of the running jobs leased by process name.
func (c *cluster) runningJobs(name string) ([]int64, error) {
	rows, err := c.store.Pool().Query(context.Background(),
		`SELECT id FROM `+c.table("kiln_job")+` WHERE state = 'running' AND leased_by = $1`, name)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// rescueTimings are the serve timings of TestKillLeaderRescueTime: a lease
// of 5 s looked for every second, and a leader term of 30 s, far longer:
// the leader that dies is replaced 20 to 40 s later, so a rescue that waits
// for the election cannot meet the bound.
var rescueTimings = []string{"--lease-duration", "5s", "--rescue-interval", "1s", "--leader-ttl", "30s"}

// rescueBound is what TestKillLeaderRescueTime allows between the SIGKILL
// and the moment every job of the dead process is claimable again:
// LeaseDuration + 5 s. The design bound is LeaseDuration + RescueInterval
// (6 s here) after the process's last lease renewal, so after its death;
// the rest is slack for a loaded machine.
const rescueBound = 5*time.Second + 5*time.Second

// TestKillLeaderRescueTime SIGKILLs the maintenance leader of three kiln
// serve processes while each of its workers has a job in flight, and
// measures how long its jobs stay running under its dead lease: every one
// must be claimable again (rescued by a surviving process, which is not
// the leader since none is elected yet) within rescueBound of the kill.
// Then every job must complete, and only the dead process's jobs run
// twice, each with one interrupted attempt.
func TestKillLeaderRescueTime(t *testing.T) {
	const jobs = 1000
	c := newCluster(t, jobs)
	c.start(c.dbURL, 3, rescueTimings...)
	c.rec.stall()
	c.enqueue()
	waitFor(t, 30*time.Second, "every worker to have a request in flight", func() (bool, error) {
		return c.rec.parked.Load() >= int64(len(c.procs)*workersPerProcess), nil
	})
	victim := c.leader()
	victim.sigkill(t)
	killedAt := time.Now()
	ctx := context.Background()
	var dbKilledAt time.Time
	if err := c.store.Pool().QueryRow(ctx, `SELECT now()`).Scan(&dbKilledAt); err != nil {
		t.Fatal(err)
	}
	held, err := c.runningJobs(victim.name)
	if err != nil {
		t.Fatal(err)
	}
	// One job per worker, each parked in its request; and, up to as many
	// again, jobs whose worker had returned and whose outcome was on its way
	// to the database (a slot is free once its outcome is queued).
	if len(held) < workersPerProcess || len(held) > 2*workersPerProcess {
		t.Errorf("%s held %d running jobs when it was killed, want %d (one per worker) to %d (and an outcome in flight per worker)",
			victim.name, len(held), workersPerProcess, 2*workersPerProcess)
	}
	var lastLeaseEnd time.Time
	if err := c.store.Pool().QueryRow(ctx, `SELECT max(lease_expires_at) FROM `+c.table("kiln_job")+
		` WHERE id = ANY($1)`, held).Scan(&lastLeaseEnd); err != nil {
		t.Fatal(err)
	}

	// Polled, not waited for with the bound as deadline, so that a slow
	// rescue reports how slow it was.
	var rescuedAfter time.Duration
	waitFor(t, 2*time.Minute, "the dead process's jobs to be rescued", func() (bool, error) {
		var n int
		err := c.store.Pool().QueryRow(ctx, `SELECT count(*) FROM `+c.table("kiln_job")+
			` WHERE id = ANY($1) AND state = 'running' AND leased_by = $2`, held, victim.name).Scan(&n)
		rescuedAfter = time.Since(killedAt)
		return n == 0, err
	})
	if rescuedAfter > rescueBound {
		t.Errorf("the jobs of the killed leader were claimable again %s after the kill, want within %s",
			rescuedAfter.Round(time.Millisecond), rescueBound)
	}
	t.Logf("killed the leader %s holding %d jobs; its last lease ended %s after the kill (database clock); "+
		"all its jobs were claimable again %s after the kill",
		victim.name, len(held), lastLeaseEnd.Sub(dbKilledAt).Round(time.Millisecond), rescuedAfter.Round(time.Millisecond))
	if leader := c.leader(); leader != victim && rescuedAfter <= rescueBound {
		// The term of 30 s, renewed at most 10 s before the kill, still ran.
		t.Errorf("%s was elected leader before the rescue ended: the test no longer shows a rescue without an election", leader.name)
	}

	c.rec.release()
	c.waitCompleted(2 * time.Minute)
	inFlight := make(map[int64]bool, len(held))
	for _, id := range held {
		inFlight[id] = true
	}
	v := c.checkJobs()
	for id, servers := range v.interrupted {
		if !inFlight[id] || len(servers) != 1 || servers[0] != victim.name {
			t.Errorf("job %d has interrupted attempts by %v; only the jobs of %s should, once", id, servers, victim.name)
		}
	}
	for id := range inFlight {
		if len(v.interrupted[id]) != 1 {
			t.Errorf("job %d, in flight in the killed process, has %d interrupted attempts, want 1", id, len(v.interrupted[id]))
		}
	}
	for id, runs := range v.duplicates {
		if !inFlight[id] {
			t.Errorf("job %d ran %d times but was not held by the killed process", id, runs)
		}
	}
	c.stopAll()
}
