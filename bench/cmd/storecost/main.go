// Command storecost measures what Kiln's hot PostgreSQL statements cost the
// database server: the CPU time of the server process (backend) that runs
// JobInsertMany, JobClaim and JobFinishMany, per job, read from
// /proc/<backend pid>/stat before and after each call. The store has one
// connection, so one backend runs every call, one at a time; no other work
// of Kiln's (no client, no leader, no heartbeat) runs beside it. It thus
// isolates the statements' own cost from the scheduling of a burn-down,
// and is far less noisy than throughput on a shared machine.
//
// It inserts --jobs no-op jobs into a fresh schema (dropped at the end),
// then claims --batch of them at a time and finishes them as completed in
// one JobFinishMany, until none is left. --setup runs SQL after the
// migrations, with {s} standing for the quoted schema, to try a schema
// change without a migration (dropping an index, say).
//
// The database server must run on this machine (the tool reads its
// processes' CPU time from /proc; Linux only). CPU time is counted in
// clock ticks (10 ms), which averages out over the thousands of calls of a
// run.
//
//	cd bench && go run ./cmd/storecost --jobs 50000 --batch 70
//	go run ./cmd/storecost --setup 'DROP INDEX {s}.kiln_job_kind'
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/bench/internal/floor"
	"github.com/kilnjobs/kiln/bench/internal/measure"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

func main() {
	database := flag.String("database", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL database URL (a server on this machine); a new schema of it is used and dropped")
	jobs := flag.Int("jobs", 50_000, "jobs to insert, claim and finish")
	batch := flag.Int("batch", 70, "jobs per JobClaim and JobFinishMany (a burn-down with 200 workers claims 70 to 90 at a time)")
	setup := flag.String("setup", "", "SQL run after the migrations; {s} is the quoted schema")
	system := flag.String("system", "kiln", "whose statements: kiln (the PostgreSQL store's) or floor (bench/internal/floor's raw SQL: the same batches, one partial index, no triggers)")
	wal := flag.Bool("wal", false, "also print the WAL bytes each statement writes per job (exact only on a server nothing else writes to)")
	flag.Parse()
	if flag.NArg() > 0 || *jobs < 1 || *batch < 1 || (*system != "kiln" && *system != "floor") {
		fmt.Fprintln(os.Stderr, "storecost: --jobs and --batch must be at least 1, --system is kiln or floor, and no arguments are taken")
		os.Exit(2)
	}
	if err := run(context.Background(), *database, *jobs, *batch, *setup, *system == "floor", *wal); err != nil {
		fmt.Fprintln(os.Stderr, "storecost:", err)
		os.Exit(1)
	}
}

// backendCPU returns the CPU time (user and system) that process pid has
// used.
func backendCPU(pid uint32) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read the backend's CPU time (is the server on this machine?): %w", err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil // USER_HZ is 100 on Linux
}

// meter adds up the backend CPU, the wall time and the WAL of the calls it
// times.
type meter struct {
	pid       uint32
	cpu, wall time.Duration
	// wal reads the server's WAL insert position (bytes); nil: not counted.
	wal      func() (int64, error)
	walBytes int64
}

func (m *meter) time(fn func() error) error {
	var w0 int64
	if m.wal != nil {
		var err error
		if w0, err = m.wal(); err != nil {
			return err
		}
	}
	c0, err := backendCPU(m.pid)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := fn(); err != nil {
		return err
	}
	m.wall += time.Since(t0)
	c1, err := backendCPU(m.pid)
	m.cpu += c1 - c0
	if err != nil || m.wal == nil {
		return err
	}
	w1, err := m.wal()
	m.walBytes += w1 - w0
	return err
}

func run(ctx context.Context, database string, jobs, batch int, setup string, isFloor, countWAL bool) (err error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	schema := "kiln_storecost_" + hex.EncodeToString(b)
	st, err := postgres.Open(ctx, database, &postgres.Options{Schema: schema, MaxConns: 1, Migrate: true})
	if err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, measure.DropSchema(ctx, st.Pool(), schema))
		st.Close()
	}()
	if setup != "" {
		if _, err := st.Pool().Exec(ctx, strings.ReplaceAll(setup, "{s}", pgx.Identifier{schema}.Sanitize())); err != nil {
			return fmt.Errorf("--setup: %w", err)
		}
	}
	var pid uint32
	if err := st.Pool().QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		return err
	}

	// The WAL a statement writes is exact only if nothing else writes to
	// the server meanwhile: --wal says so.
	var wal func() (int64, error)
	if countWAL {
		wal = func() (n int64, err error) {
			err = st.Pool().QueryRow(ctx, `SELECT pg_current_wal_insert_lsn() - '0/0'`).Scan(&n)
			return n, err
		}
	}
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	insert, claim, finish := &meter{pid: pid, wal: wal}, &meter{pid: pid, wal: wal}, &meter{pid: pid, wal: wal}
	if isFloor {
		if err := runFloor(ctx, st, schema, jobs, batch, insert, claim, finish); err != nil {
			return err
		}
		report("floor", jobs, batch, countWAL, insert, claim, finish)
		return nil
	}
	for done := 0; done < jobs; {
		ps := make([]*store.JobInsertParams, min(1000, jobs-done))
		for i := range ps {
			ps[i] = &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{"n":1}`), Priority: 1,
				MaxAttempts: 25, State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}
		}
		if err := insert.time(func() error { _, err := st.JobInsertMany(ctx, ps); return err }); err != nil {
			return err
		}
		done += len(ps)
	}

	now := base.Add(time.Second)
	claimParams := &store.JobClaimParams{Queue: "default", Max: batch, LeasedBy: "storecost", Kinds: []string{"noop"},
		LeaseExpiresAt: now.Add(time.Minute), Now: now}
	done := 0
	for {
		var rows []*kilntype.JobRow
		if err := claim.time(func() (err error) { rows, err = st.JobClaim(ctx, claimParams); return err }); err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		ps := make([]*store.JobFinishParams, len(rows))
		for i, j := range rows {
			ps[i] = &store.JobFinishParams{ID: j.ID, LeasedBy: "storecost", AttemptedAt: *j.AttemptedAt,
				State: kilntype.JobStateCompleted, Now: now,
				Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: now, FinishedAt: &now,
					Server: "storecost", Outcome: kilntype.AttemptSucceeded}}
		}
		if err := finish.time(func() error { _, err := st.JobFinishMany(ctx, ps); return err }); err != nil {
			return err
		}
		done += len(rows)
	}
	if done != jobs {
		return fmt.Errorf("%d jobs claimed and finished, want %d", done, jobs)
	}
	report("kiln", jobs, batch, countWAL, insert, claim, finish)
	return nil
}

// runFloor inserts, claims and finishes jobs with the floor's statements
// (bench/internal/floor) in schema, in the batches of Kiln's run.
func runFloor(ctx context.Context, st *postgres.Store, schema string, jobs, batch int, insert, claim, finish *meter) error {
	t, err := floor.Create(ctx, st.Pool(), schema)
	if err != nil {
		return err
	}
	for done := 0; done < jobs; {
		n := min(1000, jobs-done)
		if err := insert.time(func() error { return t.InsertN(ctx, done, n) }); err != nil {
			return err
		}
		done += n
	}
	done := 0
	for {
		var rows []floor.Claimed
		if err := claim.time(func() (err error) { rows, err = t.Claim(ctx, batch); return err }); err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		ids := make([]int64, len(rows))
		for i, j := range rows {
			ids[i] = j.ID
		}
		if err := finish.time(func() error { return t.Complete(ctx, ids) }); err != nil {
			return err
		}
		done += len(rows)
	}
	if done != jobs {
		return fmt.Errorf("floor: %d jobs claimed and finished, want %d", done, jobs)
	}
	return nil
}

// report prints the figures per job of the three meters.
func report(system string, jobs, batch int, countWAL bool, insert, claim, finish *meter) {
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3/float64(jobs))
	}
	fmt.Printf("%s: %d jobs, batches of %d; per job:\n", system, jobs, batch)
	var all meter
	for _, m := range []struct {
		name string
		*meter
	}{{"insert", insert}, {"claim", claim}, {"finish", finish}, {"all three", &all}} {
		line := fmt.Sprintf("  %-10s backend CPU %9s   wall %9s", m.name, per(m.cpu), per(m.wall))
		if countWAL {
			line += fmt.Sprintf("   WAL %6.0f B", float64(m.walBytes)/float64(jobs))
		}
		fmt.Println(line)
		all.cpu += m.cpu
		all.wall += m.wall
		all.walBytes += m.walBytes
	}
}
