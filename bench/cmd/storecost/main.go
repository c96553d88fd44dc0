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
// --retry sends each job through a longer life: its first attempt fails
// as retryable, due at once, JobScheduleDue (the maintenance leader's
// promoter) makes it available again, and its second attempt completes
// it; the promoter is metered too. --statements counts, from
// pg_stat_statements (the server must load it; it is reset at the start,
// so nothing else should run on the server), the statements each kind of
// call sent and the statements that ran inside them (the counters'
// triggers' INSERTs), per job, and the calls of the counters' trigger
// function (track_functions is set to pl for the run): counts, not time,
// so they hold on a loaded machine.
//
// --rate-limit N claims under a rate limit of the kind of N jobs per
// second with a burst of N (as compare's --kiln-rate-limit: set it high,
// and the limit never binds), and --partition-keys K gives job i the
// partition key i modulo K, claimed by key with --partition-limit jobs per
// key at most (0: fair rotation without a cap), so that the claims of
// issue 13's flow-control burn-downs can be counted as the plain one's.
//
// --hold N keeps claimed batches running and finishes the oldest only once
// more than N jobs run (and when a claim finds nothing while some run), so
// that each claim meets about N running jobs, as a burn-down's claims meet
// its workers' jobs: under a per-key limit, their keys are walked and
// passed over (0, the default: each batch is finished before the next
// claim, so no job runs at a claim).
//
// --idle-claims N makes N more claims once the queue is empty, each of
// which finds nothing, as an idle process's polls: what one costs is the
// difference between two runs' instructions divided by the difference in N.
//
// --insert-only stops after the inserts and --no-finish claims every job
// but finishes none, so that the claims' or the finishes' cost is the
// difference between two runs of a measure that covers a whole run, such
// as the instructions of the server process under callgrind
// (docs/benchmarks.md, "Database instructions per job").
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
	"github.com/jackc/pgx/v5/pgxpool"

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
	retry := flag.Bool("retry", false, "fail each job's first attempt as retryable, promote it with JobScheduleDue, complete its second")
	insertOnly := flag.Bool("insert-only", false, "stop after the inserts (what the claims and finishes cost is then a difference between two runs, e.g. of instructions under callgrind)")
	noFinish := flag.Bool("no-finish", false, "claim every job but finish none (the claims' cost is then a difference between two runs)")
	batchAlt := flag.Int("batch-alt", 0, "claim alternately --batch and this many jobs (0: --batch each time): a burn-down by 200 workers whose jobs finish at once claims, e.g., 180 and 20 in turn, as the workers free up unevenly")
	hold := flag.Int("hold", 0, "keep claimed batches running, finishing the oldest only once more than this many jobs run, so that each claim meets about this many running jobs, as in a burn-down with as many workers (0: finish each batch before the next claim)")
	rateLimit := flag.Int("rate-limit", 0, "claim under a rate limit of this many jobs per second, with a burst of as many (0: none)")
	partitionKeys := flag.Int("partition-keys", 0, "give job i the partition key i modulo this, and claim by key (0: no key)")
	partitionLimit := flag.Int("partition-limit", 0, "with --partition-keys, at most this many running jobs per key (0: fair rotation, no cap)")
	anyKind := flag.Bool("any-kind", false, "claim with AnyKind (the queue's kinds are listed first) instead of the kind's name")
	idleClaims := flag.Int("idle-claims", 0, "after the run, claim this many times from the queue it emptied (Kiln: what a claim that finds nothing costs is then a difference between two runs)")
	clean := flag.Bool("clean", false, "after a whole run, delete the completed jobs as the leader's cleaner does (JobDeleteFinished with a cut-off after every job, in batches of 1,000, with the cleaner's progress), timed as clean; what it costs is then a difference between two runs")
	statements := flag.Bool("statements", false, "count statements, nested statements and trigger calls per job (pg_stat_statements, reset at the start)")
	flag.Parse()
	if flag.NArg() > 0 || *jobs < 1 || *batch < 1 || *batchAlt < 0 || *idleClaims < 0 || (*system != "kiln" && *system != "floor") {
		fmt.Fprintln(os.Stderr, "storecost: --jobs and --batch must be at least 1, --batch-alt and --idle-claims at least 0, --system is kiln or floor, and no arguments are taken")
		os.Exit(2)
	}
	o := options{jobs: *jobs, batch: *batch, setup: *setup, floor: *system == "floor", wal: *wal, retry: *retry,
		statements: *statements, insertOnly: *insertOnly, noFinish: *noFinish, idleClaims: *idleClaims, anyKind: *anyKind, hold: *hold,
		clean: *clean, batchAlt: *batchAlt}
	if o.floor && o.batchAlt > 0 {
		fmt.Fprintln(os.Stderr, "storecost: --batch-alt is for --system kiln")
		os.Exit(2)
	}
	o.rateLimit, o.partitionKeys, o.partitionLimit = *rateLimit, *partitionKeys, *partitionLimit
	if o.floor && (o.retry || o.rateLimit > 0 || o.partitionKeys > 0 || o.idleClaims > 0 || o.anyKind) {
		fmt.Fprintln(os.Stderr, "storecost: --retry, --rate-limit, --partition-keys, --idle-claims and --any-kind are for --system kiln")
		os.Exit(2)
	}
	if o.hold < 0 || (o.hold > 0 && (o.floor || o.noFinish)) {
		fmt.Fprintln(os.Stderr, "storecost: --hold is at least 0, for --system kiln, and does not go with --no-finish")
		os.Exit(2)
	}
	if o.partitionLimit < 0 || (o.partitionLimit > 0 && (o.partitionKeys <= 0 || o.noFinish)) {
		// Without finishes, a cap of L per key stops the claims at K × L jobs.
		fmt.Fprintln(os.Stderr, "storecost: --partition-limit needs --partition-keys, is at least 0, and does not go with --no-finish")
		os.Exit(2)
	}
	if err := run(context.Background(), *database, o); err != nil {
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

// options are the flags of a run.
type options struct {
	jobs, batch                   int
	setup                         string
	floor, wal, retry, statements bool
	insertOnly, noFinish          bool
	idleClaims                    int  // --idle-claims
	anyKind                       bool // --any-kind
	hold                          int  // --hold
	clean                         bool // --clean
	batchAlt                      int  // --batch-alt
	// rateLimit, partitionKeys and partitionLimit are --rate-limit,
	// --partition-keys and --partition-limit.
	rateLimit, partitionKeys, partitionLimit int
}

func run(ctx context.Context, database string, o options) (err error) {
	jobs, batch, setup, isFloor, countWAL := o.jobs, o.batch, o.setup, o.floor, o.wal
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
	// bench/scripts/pgcost.sh reads this line to find the backend's
	// callgrind file (cg.<pid>).
	fmt.Printf("backend pid %d\n", pid)

	// The WAL a statement writes is exact only if nothing else writes to
	// the server meanwhile: --wal says so.
	var wal func() (int64, error)
	if countWAL {
		wal = func() (n int64, err error) {
			err = st.Pool().QueryRow(ctx, `SELECT pg_current_wal_insert_lsn() - '0/0'`).Scan(&n)
			return n, err
		}
	}
	var counts *statementCounts
	if o.statements {
		if counts, err = startCounting(ctx, st.Pool()); err != nil {
			return err
		}
	}
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	insert, claim, finish := &meter{pid: pid, wal: wal}, &meter{pid: pid, wal: wal}, &meter{pid: pid, wal: wal}
	promote := &meter{pid: pid, wal: wal}
	if isFloor {
		if err := runFloor(ctx, st, schema, jobs, batch, o, insert, claim, finish); err != nil {
			return err
		}
		report("floor", jobs, batch, countWAL, insert, claim, finish, nil)
		return counts.report(ctx, st.Pool(), schema, jobs)
	}
	for done := 0; done < jobs; {
		ps := make([]*store.JobInsertParams, min(1000, jobs-done))
		for i := range ps {
			ps[i] = &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{"n":1}`), Priority: 1,
				MaxAttempts: 25, State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}
			if o.partitionKeys > 0 {
				ps[i].Partition = strconv.Itoa((done + i) % o.partitionKeys)
			}
		}
		if err := insert.time(func() error { _, err := st.JobInsertMany(ctx, ps); return err }); err != nil {
			return err
		}
		done += len(ps)
	}
	if o.insertOnly {
		report("kiln", jobs, batch, countWAL, insert, claim, finish, nil)
		return counts.report(ctx, st.Pool(), schema, jobs)
	}

	now := base.Add(time.Second)
	claimParams := &store.JobClaimParams{Queue: "default", Max: batch, LeasedBy: "storecost", Kinds: []string{"noop"},
		LeaseExpiresAt: now.Add(time.Minute), Now: now}
	if o.anyKind {
		claimParams.Kinds, claimParams.AnyKind = nil, true
	}
	if o.rateLimit > 0 {
		claimParams.RateLimits = map[string]kilntype.RateLimit{"noop": {Limit: o.rateLimit, Period: time.Second, Burst: o.rateLimit}}
	}
	if o.partitionKeys > 0 {
		claimParams.Partitioned = map[string]store.PartitionClaim{"noop": {MaxRunning: o.partitionLimit}}
	}
	done, retried := 0, 0
	// finishOldest finishes the oldest held batch (as completed, or with
	// --retry its first attempts as retryable, then promoted).
	var held [][]*kilntype.JobRow
	running := 0
	finishOldest := func() error {
		rows := held[0]
		held, running = held[1:], running-len(rows)
		ps := make([]*store.JobFinishParams, len(rows))
		for i, j := range rows {
			p := &store.JobFinishParams{ID: j.ID, LeasedBy: "storecost", AttemptedAt: *j.AttemptedAt,
				State: kilntype.JobStateCompleted, Now: now,
				Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: now, FinishedAt: &now,
					Server: "storecost", Outcome: kilntype.AttemptSucceeded}}
			if o.retry && j.Attempt == 1 {
				p.State, p.ScheduledAt = kilntype.JobStateRetryable, now
				p.Attempt.Outcome, p.Attempt.Error = kilntype.AttemptFailed, "storecost: first attempt"
			}
			ps[i] = p
		}
		if err := finish.time(func() error { _, err := st.JobFinishMany(ctx, ps); return err }); err != nil {
			return err
		}
		for _, p := range ps {
			if p.State == kilntype.JobStateCompleted {
				done++
			}
		}
		if !o.retry {
			return nil
		}
		// The promoter, as the leader runs it, once per finished batch: its
		// batch is the jobs that batch failed.
		var n int
		if err := promote.time(func() (err error) {
			n, err = st.JobScheduleDue(ctx, &store.JobScheduleDueParams{Now: now, Max: 1000})
			return err
		}); err != nil {
			return err
		}
		retried += n
		return nil
	}
	for claims := 0; ; claims++ {
		var rows []*kilntype.JobRow
		if o.batchAlt > 0 {
			claimParams.Max = []int{batch, o.batchAlt}[claims%2]
		}
		if err := claim.time(func() (err error) { rows, err = st.JobClaim(ctx, claimParams); return err }); err != nil {
			return err
		}
		if len(rows) == 0 {
			if len(held) == 0 {
				break
			}
			// Every job left waits behind a held one (its key's, under
			// --partition-limit): finish the oldest batch, then claim again.
			if err := finishOldest(); err != nil {
				return err
			}
			continue
		}
		if o.noFinish {
			done += len(rows)
			continue
		}
		held, running = append(held, rows), running+len(rows)
		for running > o.hold {
			if err := finishOldest(); err != nil {
				return err
			}
		}
	}
	if done != jobs || (o.retry && retried != jobs) {
		return fmt.Errorf("%d jobs completed and %d promoted, want %d", done, retried, jobs)
	}
	if !o.retry {
		promote = nil
	}
	idle := &meter{pid: pid, wal: wal}
	for range o.idleClaims {
		var rows []*kilntype.JobRow
		if err := idle.time(func() (err error) { rows, err = st.JobClaim(ctx, claimParams); return err }); err != nil {
			return err
		}
		if len(rows) > 0 {
			return fmt.Errorf("--idle-claims: a claim of the emptied queue took %d jobs", len(rows))
		}
	}
	report("kiln", jobs, batch, countWAL, insert, claim, finish, promote)
	if o.clean && !o.noFinish {
		// The cleaner's calls, as the leader makes them (internal/maintenance).
		cleaned := &meter{pid: pid, wal: wal}
		progress := &store.CleanProgress{}
		p := &store.JobDeleteFinishedParams{CompletedBefore: now.Add(time.Hour), Max: 1000, Now: now, Progress: progress}
		deleted := 0
		for {
			var n int
			if err := cleaned.time(func() (err error) { n, err = st.JobDeleteFinished(ctx, p); return err }); err != nil {
				return err
			}
			deleted += n
			if n < p.Max && !progress.More {
				break
			}
		}
		if deleted != jobs {
			return fmt.Errorf("--clean: the cleaner deleted %d jobs, want %d", deleted, jobs)
		}
		fmt.Printf("  clean  backend CPU %7.1f µs   wall %7.1f µs\n",
			float64(cleaned.cpu.Nanoseconds())/1e3/float64(jobs), float64(cleaned.wall.Nanoseconds())/1e3/float64(jobs))
	}
	if o.idleClaims > 0 {
		fmt.Printf("  idle claim backend CPU %7.1f µs   wall %7.1f µs (per claim, %d claims)\n",
			float64(idle.cpu.Nanoseconds())/1e3/float64(o.idleClaims), float64(idle.wall.Nanoseconds())/1e3/float64(o.idleClaims), o.idleClaims)
	}
	return counts.report(ctx, st.Pool(), schema, jobs)
}

// runFloor inserts, claims and finishes jobs with the floor's statements
// (bench/internal/floor) in schema, in the batches of Kiln's run.
func runFloor(ctx context.Context, st *postgres.Store, schema string, jobs, batch int, o options, insert, claim, finish *meter) error {
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
	if o.insertOnly {
		return nil
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
		if o.noFinish {
			done += len(rows)
			continue
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

// report prints the figures per job of the meters (promote: nil when the
// run promoted nothing).
func report(system string, jobs, batch int, countWAL bool, insert, claim, finish, promote *meter) {
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3/float64(jobs))
	}
	fmt.Printf("%s: %d jobs, batches of %d; per job:\n", system, jobs, batch)
	var all meter
	meters := []struct {
		name string
		*meter
	}{{"insert", insert}, {"claim", claim}, {"finish", finish}}
	if promote != nil {
		meters = append(meters, struct {
			name string
			*meter
		}{"promote", promote})
	}
	meters = append(meters, struct {
		name string
		*meter
	}{"all", &all})
	for _, m := range meters {
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

// statementCounts counts statements with pg_stat_statements.
type statementCounts struct{}

// startCounting resets pg_stat_statements and turns on the counting of
// PL/pgSQL function calls for the store's one connection.
func startCounting(ctx context.Context, pool *pgxpool.Pool) (*statementCounts, error) {
	if _, err := pool.Exec(ctx, `SET track_functions = 'pl'`); err != nil {
		return nil, fmt.Errorf("--statements: %w", err)
	}
	if _, err := pool.Exec(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
		return nil, fmt.Errorf("--statements needs pg_stat_statements (shared_preload_libraries, CREATE EXTENSION): %w", err)
	}
	return &statementCounts{}, nil
}

// report prints, per job, the statements of the run that touched schema
// (top-level: what the store sent; nested: what ran inside them, such as
// the triggers' INSERTs), by kind, and the calls of the schema's trigger
// functions. A nil c prints nothing.
func (c *statementCounts) report(ctx context.Context, pool *pgxpool.Pool, schema string, jobs int) error {
	if c == nil {
		return nil
	}
	rows, err := pool.Query(ctx, `SELECT toplevel, calls, rows, shared_blks_hit + shared_blks_read, wal_records,
			wal_bytes::bigint, query FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND query LIKE '%' || $1 || '%' ORDER BY toplevel DESC, calls DESC`, schema)
	if err != nil {
		return fmt.Errorf("--statements: %w", err)
	}
	type line struct {
		top                           bool
		calls, rows, buffers, walRecs int64
		walBytes                      int64
		query                         string
	}
	lines, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (line, error) {
		var l line
		err := r.Scan(&l.top, &l.calls, &l.rows, &l.buffers, &l.walRecs, &l.walBytes, &l.query)
		return l, err
	})
	if err != nil {
		return fmt.Errorf("--statements: %w", err)
	}
	var top, nested int64
	fmt.Println("statements per 1,000 jobs (pg_stat_statements; top-level, then nested), and per job the buffers",
		"they read (shared, hit or read), their WAL records and WAL bytes (a top-level statement's include its nested ones'):")
	for _, l := range lines {
		if l.top {
			top += l.calls
		} else {
			nested += l.calls
		}
		q := strings.Join(strings.Fields(strings.ReplaceAll(l.query, pgx.Identifier{schema}.Sanitize()+".", "")), " ")
		if len(q) > 70 {
			q = q[:70] + "..."
		}
		per := func(n int64) float64 { return float64(n) / float64(jobs) }
		fmt.Printf("  %-6v %9.2f calls %10.1f rows %7.2f buf %5.2f WAL rec %6.1f WAL B  %s\n",
			map[bool]string{true: "top", false: "nested"}[l.top], per(l.calls)*1000, per(l.rows)*1000,
			per(l.buffers), per(l.walRecs), per(l.walBytes), q)
	}
	fmt.Printf("  total: %.2f top-level, %.2f nested statements per 1,000 jobs\n",
		float64(top)*1000/float64(jobs), float64(nested)*1000/float64(jobs))
	// This backend reports its function calls when it goes idle: forced
	// after this statement, they are there for the next.
	if _, err := pool.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
		return fmt.Errorf("--statements: %w", err)
	}
	var calls int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_user_functions
		WHERE schemaname = $1`, schema).Scan(&calls); err != nil {
		return fmt.Errorf("--statements: %w", err)
	}
	fmt.Printf("  trigger function calls: %.2f per 1,000 jobs\n", float64(calls)*1000/float64(jobs))
	return nil
}
