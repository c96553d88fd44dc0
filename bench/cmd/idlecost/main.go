// Command idlecost measures what a Kiln client costs while it has nothing
// to do beside a long queue of jobs it cannot run: N available jobs of kind
// "foreign" in the default queue, and a client whose only worker is for
// kind "mine". The client polls the queue (every FetchPollInterval,
// 200 ms), and, being the only client, is elected leader and runs the
// maintenance (due-job promotion, rescue, cleaner, stats fold, server
// reaper, recurring scheduler) as usual; idlecost checks that it was the
// leader and counts those passes.
//
// For each N of --foreign, in increasing order, idlecost adds jobs to one
// database (a SQLite file in a temporary directory, or a fresh PostgreSQL
// schema, dropped at the end) with the store's JobInsertMany, in batches of
// 1,000, and on PostgreSQL then runs VACUUM ANALYZE on kiln_job, as
// autovacuum would have on a database whose backlog is not new. It then
// runs the client --repeat times, each in a new process (this program
// again), so that nothing of the insertion is in its memory: the process
// opens the store, starts the client, lets it settle for --warmup, and
// measures --duration:
//
//   - CPU time of the process (getrusage: the client, and on SQLite the
//     database engine in process), and on PostgreSQL of the database
//     server's backends that serve the client's connections (from
//     /proc/<pid>/stat; the server must run on this machine); printed in
//     seconds per minute;
//   - at the end, the resident set (VmRSS) and what it is made of: anonymous
//     memory (RssAnon: the Go heap and the SQLite driver's C memory) and
//     mapped files and shared memory (RssFile + RssShmem: the executable,
//     and SQLite's WAL index, the -shm file); the Go heap in use
//     (runtime/metrics /memory/classes/heap/objects:bytes) and all the Go
//     runtime holds from the system (/memory/classes/total:bytes); and on
//     SQLite the page caches, schema and statements of its connections
//     (sqlite.Store.MemoryUse). SQLite does not memory-map the database
//     (mmap_size is 0, SQLite's default).
//
// With --dashboard, the process also reads what the dashboard's pages show,
// every that often (Stats, QueueList, JobCountByState, the first page of
// JobList, of available jobs and of all, JobHistory of the last hour,
// ServerList), and that is measured with the rest.
//
// The figures are CPU times, which a loaded machine stretches far less than
// wall times; the load average is printed beside them, and so is the number
// of claims the client made (each poll is one; on a loaded machine a slow
// claim leaves fewer polls, so the CPU per claim is the figure to compare).
// At the end idlecost prints a Markdown table: for each N, min / median /
// max of the runs.
//
// With --clients, each measured run is made by each of the executables
// named, in turn, on the same database: builds of idlecost from two
// versions of Kiln (its --child flags must be the same), so that before
// and after are measured alternately under the same load and on the same
// data; the table then has a row per N and executable.
//
//	cd bench && go run ./cmd/idlecost --store sqlite --foreign 0,100000,1000000 --repeat 2 --duration 60s
//	go run ./cmd/idlecost --store postgres --foreign 0,100000,1000000 --repeat 2 --duration 60s
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/bench/internal/measure"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/sqlite"
)

type mineArgs struct{}

func (mineArgs) Kind() string { return "mine" }

// options are the command's flags.
type options struct {
	store     string
	database  string
	foreign   []int
	repeat    int
	duration  time.Duration
	warmup    time.Duration
	dashboard time.Duration
	// clients are the executables of the measured clients, each run in
	// turn for every repeat: this program, or builds of two versions of it.
	clients []string
	// child: measure one client on an existing database (path or schema).
	child  bool
	path   string
	schema string
}

func main() {
	var o options
	flag.StringVar(&o.store, "store", "sqlite", "sqlite or postgres")
	flag.StringVar(&o.database, "database", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"PostgreSQL database URL (a server on this machine), for --store postgres; a new schema of it is used and dropped")
	foreign := flag.String("foreign", "0,100000,1000000", "comma-separated numbers of available jobs of a kind the client has no worker for")
	flag.IntVar(&o.repeat, "repeat", 1, "measured runs (processes) for each number of jobs")
	flag.DurationVar(&o.duration, "duration", time.Minute, "how long each client idles, measured")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "how long each client runs before it is measured")
	flag.DurationVar(&o.dashboard, "dashboard", 0, "if positive, read the dashboard's data this often")
	clients := flag.String("clients", "", "comma-separated idlecost executables (builds of other versions) to measure in turn on the same database, for every --repeat; default: this program")
	flag.BoolVar(&o.child, "child", false, "internal: measure one client on the database of --path or --schema")
	flag.StringVar(&o.path, "path", "", "internal: the SQLite file, with --child")
	flag.StringVar(&o.schema, "schema", "", "internal: the PostgreSQL schema, with --child")
	flag.Parse()
	for _, f := range strings.Split(*foreign, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			o.foreign = nil
			break
		}
		o.foreign = append(o.foreign, n)
	}
	if flag.NArg() > 0 || len(o.foreign) == 0 || !slices.IsSorted(o.foreign) || o.repeat < 1 || o.duration <= 0 ||
		o.warmup < 0 || (o.store != "sqlite" && o.store != "postgres") {
		fmt.Fprintln(os.Stderr, "idlecost: --store is sqlite or postgres, --foreign numbers at least 0 in increasing order, "+
			"--repeat at least 1, --duration positive; no arguments are taken")
		os.Exit(2)
	}
	if *clients != "" {
		o.clients = strings.Split(*clients, ",")
	}
	run := parent
	if o.child {
		run = child
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "idlecost:", err)
		os.Exit(1)
	}
}

// result is what one measured client process reports, on one line of JSON.
type result struct {
	Foreign   int
	Seconds   float64 // wall time measured
	CPU       float64 // seconds, this process
	DBCPU     float64 // seconds, the PostgreSQL backends
	Calls     map[string]int64
	Leader    bool
	RSS       int64 // bytes: VmRSS at the end
	Anon      int64 // RssAnon
	Files     int64 // RssFile + RssShmem
	Peak      int64 // VmHWM
	GoHeap    int64 // heap objects
	GoTotal   int64 // all the Go runtime holds
	PageCache int64 // SQLite page caches
	SQLiteEtc int64 // SQLite schema and statements
	Conns     int   // SQLite connections counted
	Load      string
}

func randomTag() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// parent fills the database for each size and runs the measured clients.
func parent(ctx context.Context, o options) (err error) {
	tag, err := randomTag()
	if err != nil {
		return err
	}
	var (
		open   func() (store.Store, func(), error)
		after  func(context.Context) error // after an insertion
		childA []string
	)
	switch o.store {
	case "sqlite":
		dir, err := os.MkdirTemp("", "kiln-idlecost-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "kiln.db")
		open = func() (store.Store, func(), error) {
			s, err := sqlite.Open(ctx, path, &sqlite.Options{Migrate: true})
			if err != nil {
				return nil, nil, err
			}
			return s, func() { s.Close() }, nil
		}
		after = func(context.Context) error { return nil }
		childA = []string{"--path", path}
	case "postgres":
		schema := "kiln_idlecost_" + tag
		s, err := postgres.Open(ctx, o.database, &postgres.Options{Schema: schema, Migrate: true})
		if err != nil {
			return err
		}
		defer func() {
			err = errors.Join(err, measure.DropSchema(ctx, s.Pool(), schema))
			s.Close()
		}()
		open = func() (store.Store, func(), error) { return s, func() {}, nil }
		after = func(ctx context.Context) error {
			_, err := s.Pool().Exec(ctx, `VACUUM ANALYZE `+pgx.Identifier{schema, "kiln_job"}.Sanitize())
			return err
		}
		childA = []string{"--schema", schema, "--database", o.database}
	}

	if len(o.clients) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		o.clients = []string{exe}
	}
	results := map[int][][]result{} // by size, then client
	queued := 0
	for _, n := range o.foreign {
		st, closeStore, err := open()
		if err != nil {
			return err
		}
		start := time.Now()
		base := time.Now().Add(-time.Hour).UTC()
		for queued < n {
			ps := make([]*store.JobInsertParams, min(1000, n-queued))
			for i := range ps {
				ps[i] = &store.JobInsertParams{Kind: "foreign", Queue: kiln.QueueDefault, Args: []byte(`{}`), Priority: 1,
					MaxAttempts: 25, State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}
			}
			if _, err := st.JobInsertMany(ctx, ps); err != nil {
				closeStore()
				return err
			}
			queued += len(ps)
		}
		err = after(ctx)
		closeStore()
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d foreign jobs queued (%v)\n", o.store, n, time.Since(start).Round(time.Millisecond))
		results[n] = make([][]result, len(o.clients))
		for range o.repeat {
			for ci, exe := range o.clients {
				args := append([]string{"--child", "--store", o.store, "--foreign", strconv.Itoa(n),
					"--duration", o.duration.String(), "--warmup", o.warmup.String(), "--dashboard", o.dashboard.String()}, childA...)
				cmd := exec.CommandContext(ctx, exe, args...)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, os.Stderr
				if err := cmd.Run(); err != nil {
					return fmt.Errorf("measured client: %w", err)
				}
				var r result
				if err := json.Unmarshal(out.Bytes(), &r); err != nil {
					return fmt.Errorf("measured client's report %q: %w", out.String(), err)
				}
				r.Foreign = n
				results[n][ci] = append(results[n][ci], r)
				if len(o.clients) > 1 {
					fmt.Printf("  %s:", exe)
				}
				printRun(o, r)
			}
		}
	}
	printTable(o, results)
	return nil
}

const mib = 1 << 20

func perMinute(cpu, seconds float64) float64 { return cpu * 60 / seconds }

func printRun(o options, r result) {
	fmt.Printf("  %d foreign: leader %v; %.1f s measured; CPU %.3f s/min", r.Foreign, r.Leader, r.Seconds, perMinute(r.CPU, r.Seconds))
	if o.store == "postgres" {
		fmt.Printf(", backends %.3f s/min", perMinute(r.DBCPU, r.Seconds))
	}
	fmt.Printf("; RSS %.1f MiB (anon %.1f, files and shm %.1f, peak %.1f; Go heap %.1f, Go total %.1f",
		float64(r.RSS)/mib, float64(r.Anon)/mib, float64(r.Files)/mib, float64(r.Peak)/mib,
		float64(r.GoHeap)/mib, float64(r.GoTotal)/mib)
	if o.store == "sqlite" {
		fmt.Printf("; SQLite page caches %.1f, schema and statements %.1f, %d connections",
			float64(r.PageCache)/mib, float64(r.SQLiteEtc)/mib, r.Conns)
	}
	fmt.Printf("); calls %v; load %s\n", r.Calls, r.Load)
}

// stat formats min / median / max (the lower median of an even count) of
// the figures, or the figure alone.
func stat(xs []float64, format string) string {
	slices.Sort(xs)
	if len(xs) == 1 {
		return fmt.Sprintf(format, xs[0])
	}
	return fmt.Sprintf(format+" / "+format+" / "+format, xs[0], xs[(len(xs)-1)/2], xs[len(xs)-1])
}

func column(rs []result, f func(result) float64) []float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return xs
}

func printTable(o options, results map[int][][]result) {
	fmt.Printf("\n%s, %d run(s) of %v each (min / median / max), CPU in seconds per minute, memory in MiB:\n\n", o.store, o.repeat, o.duration)
	head := "| foreign jobs |"
	if len(o.clients) > 1 {
		head += " client |"
	}
	head += " process CPU | claims/min |"
	if o.store == "postgres" {
		head += " backends CPU |"
	}
	head += " RSS | RssAnon | RssFile+Shmem | Go heap | Go total |"
	if o.store == "sqlite" {
		head += " SQLite page caches |"
	}
	head += " leader | load average (1 min, at the end) |"
	fmt.Println(head)
	fmt.Println(strings.Repeat("|---", strings.Count(head, "|")-1) + "|")
	for _, n := range o.foreign {
		for ci, rs := range results[n] {
			line := fmt.Sprintf("| %d |", n)
			if len(o.clients) > 1 {
				line += " " + o.clients[ci] + " |"
			}
			line += fmt.Sprintf(" %s | %s |",
				stat(column(rs, func(r result) float64 { return perMinute(r.CPU, r.Seconds) }), "%.3f"),
				stat(column(rs, func(r result) float64 { return perMinute(float64(r.Calls["claim"]), r.Seconds) }), "%.0f"))
			if o.store == "postgres" {
				line += " " + stat(column(rs, func(r result) float64 { return perMinute(r.DBCPU, r.Seconds) }), "%.3f") + " |"
			}
			for _, f := range []func(result) int64{
				func(r result) int64 { return r.RSS }, func(r result) int64 { return r.Anon },
				func(r result) int64 { return r.Files }, func(r result) int64 { return r.GoHeap },
				func(r result) int64 { return r.GoTotal },
			} {
				line += " " + stat(column(rs, func(r result) float64 { return float64(f(r)) / mib }), "%.1f") + " |"
			}
			if o.store == "sqlite" {
				line += " " + stat(column(rs, func(r result) float64 { return float64(r.PageCache) / mib }), "%.1f") + " |"
			}
			leader, loads := true, make([]string, len(rs))
			for i, r := range rs {
				leader = leader && r.Leader
				loads[i] = r.Load
			}
			line += fmt.Sprintf(" %v | %s |", leader, strings.Join(loads, ", "))
			fmt.Println(line)
		}
	}
}

// child runs one client on the database the parent filled and prints its
// result as JSON.
func child(ctx context.Context, o options) error {
	var (
		st      store.Store
		servers func() []int // the backends serving the client, on PostgreSQL
		memory  func() (sqlite.MemoryUse, error)
		c       = newCalls()
	)
	switch o.store {
	case "sqlite":
		s, err := sqlite.Open(ctx, o.path, nil)
		if err != nil {
			return err
		}
		defer s.Close()
		st = newCountedSQLite(s, c)
		memory = func() (sqlite.MemoryUse, error) { return s.MemoryUse(ctx) }
	case "postgres":
		tag, err := randomTag()
		if err != nil {
			return err
		}
		u, err := url.Parse(o.database)
		if err != nil {
			return fmt.Errorf("--database: %w", err)
		}
		app := "kiln_idlecost_" + tag
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		s, err := postgres.Open(ctx, u.String(), &postgres.Options{Schema: o.schema})
		if err != nil {
			return err
		}
		defer s.Close()
		admin, err := pgx.Connect(ctx, o.database)
		if err != nil {
			return err
		}
		defer admin.Close(context.WithoutCancel(ctx))
		servers = func() []int {
			rows, err := admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
			if err != nil {
				return nil
			}
			pids, _ := pgx.CollectRows(rows, pgx.RowTo[int])
			return pids
		}
		st = newCountedPostgres(s, c)
	}

	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[mineArgs]) error { return nil }))
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	stopDashboard := func() error { return nil }
	if o.dashboard > 0 {
		stopDashboard = readDashboard(ctx, client, o.dashboard)
	}
	time.Sleep(o.warmup)
	m := measure.StartCPU(servers)
	calls0 := c.snapshot()
	start := time.Now()
	time.Sleep(o.duration)
	self, db := m.Stop()
	r := result{Seconds: time.Since(start).Seconds(), CPU: self, DBCPU: db, Calls: since(c.snapshot(), calls0),
		Leader: c.leader.Load(), Load: measure.LoadAvg()}
	if err := stopDashboard(); err != nil {
		return err
	}
	// The memory while the client still runs.
	for _, f := range []struct {
		name string
		to   *int64
	}{{"VmRSS:", &r.RSS}, {"RssAnon:", &r.Anon}, {"RssFile:", &r.Files}, {"VmHWM:", &r.Peak}} {
		if *f.to, err = measure.StatusBytes(f.name); err != nil {
			return err
		}
	}
	shm, err := measure.StatusBytes("RssShmem:")
	if err != nil {
		return err
	}
	r.Files += shm
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}
	metrics.Read(samples)
	r.GoHeap, r.GoTotal = int64(samples[0].Value.Uint64()), int64(samples[1].Value.Uint64())
	if memory != nil {
		mu, err := memory()
		if err != nil {
			return err
		}
		r.PageCache, r.SQLiteEtc, r.Conns = mu.PageCache, mu.Schema+mu.Statements, mu.Connections
	}
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// readDashboard reads what the dashboard's overview, queues, jobs and
// servers pages show, every interval, until the returned function is
// called; that returns the first error a read had.
func readDashboard(ctx context.Context, client *kiln.Client, interval time.Duration) func() error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			now := time.Now()
			_, err := client.Stats(ctx)
			if err == nil {
				_, err = client.QueueList(ctx)
			}
			if err == nil {
				_, err = client.JobCountByState(ctx)
			}
			if err == nil {
				_, err = client.JobList(ctx, &kiln.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}})
			}
			if err == nil {
				_, err = client.JobList(ctx, &kiln.JobListParams{})
			}
			if err == nil {
				_, err = client.JobHistory(ctx, now.Add(-time.Hour).Truncate(time.Minute), now.Truncate(time.Minute), time.Minute)
			}
			if err == nil {
				_, err = client.ServerList(ctx)
			}
			if err != nil && ctx.Err() == nil {
				done <- fmt.Errorf("dashboard reads: %w", err)
				return
			}
			select {
			case <-ctx.Done():
				done <- nil
				return
			case <-t.C:
			}
		}
	}()
	return func() error {
		cancel()
		return <-done
	}
}
