// Command scale runs Kiln as many real processes on one PostgreSQL and
// reports what a cluster costs: it enqueues --jobs no-op jobs into a fresh
// schema, starts --processes child processes (this program re-executed
// with --child), each a Kiln client with --workers workers on the default
// queue and Kiln's default settings (pool size: --max-conns, 0 for Kiln's
// default), tells them to start at once, and waits until no job is left.
// It reports:
//
//   - the total throughput: --jobs ÷ (last completion − start);
//   - the PostgreSQL connections the children hold, sampled every 250 ms
//     from pg_stat_activity by application_name (each child's is
//     kiln-scale-child-NN): the most at once in total and per process,
//     and the most connections of the whole server at once;
//   - the maintenance leader: sampled every 250 ms from the store's
//     kiln_leader table (a term ended and taken by another process within
//     250 ms would be missed), the first leader and each change;
//   - the NOTIFY traffic on Kiln's channels, counted by a LISTEN
//     connection of this program, during the enqueue and during the drain;
//   - the CPU time of the children (each reports its own, from its start
//     signal to its stop) and of their database backends, per job.
//
// The schema is dropped at the end, also when interrupted; the children
// are killed if they do not stop.
//
//	cd bench && go run ./cmd/scale --processes 20 --workers 10 --jobs 200000
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/bench/internal/measure"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

type options struct {
	database  string
	processes int
	workers   int
	jobs      int
	maxConns  int
	timeout   time.Duration

	// Child mode.
	child  bool
	schema string
	index  int
}

// childAppPrefix starts the application_name of each child's connections.
const childAppPrefix = "kiln-scale-child-"

// sampleEvery is how often the connections and the leader are sampled.
const sampleEvery = 250 * time.Millisecond

type noopArgs struct {
	N int `json:"n"`
}

func (noopArgs) Kind() string { return "bench.noop" }

func main() {
	o := &options{}
	flag.StringVar(&o.database, "database", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL database URL; a new schema of it is used and dropped")
	flag.IntVar(&o.processes, "processes", 20, "Kiln child processes")
	flag.IntVar(&o.workers, "workers", 10, "workers of each process (MaxWorkers of the default queue)")
	flag.IntVar(&o.jobs, "jobs", 200_000, "no-op jobs enqueued before the processes start")
	flag.IntVar(&o.maxConns, "max-conns", 0, "pool size of each process (postgres.Options.MaxConns; 0: Kiln's default)")
	flag.DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up when the jobs are not done by then")
	flag.BoolVar(&o.child, "child", false, "run as one child process (internal)")
	flag.StringVar(&o.schema, "schema", "", "schema of a child (internal)")
	flag.IntVar(&o.index, "index", 0, "number of a child (internal)")
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected arguments: %q", flag.Args())
	}
	if o.processes < 1 || o.workers < 1 || o.jobs < 1 || o.maxConns < 0 {
		fatalf("--processes, --workers and --jobs must be at least 1, --max-conns at least 0")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if o.child {
		err = runChild(ctx, o)
	} else {
		err = runParent(ctx, o)
	}
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scale: "+format+"\n", args...)
	os.Exit(1)
}

// withAppName returns the database URL with application_name set.
func withAppName(database, name string) (string, error) {
	u, err := url.Parse(database)
	if err != nil {
		return "", fmt.Errorf("--database: %w", err)
	}
	q := u.Query()
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// childReport is what a child prints on its last line of output.
type childReport struct {
	Index     int            `json:"index"`
	ID        string         `json:"id"`
	Completed int            `json:"completed"`
	First     time.Time      `json:"first"` // first completion
	Last      time.Time      `json:"last"`  // last completion
	CPU       float64        `json:"cpu"`   // seconds, from "go" to "stop"
	PeakRSS   int64          `json:"peak_rss"`
	Logs      map[string]int `json:"logs"` // warnings and errors by message
	StopError string         `json:"stop_error,omitempty"`
}

// runChild is one Kiln process: it opens the store, prints "ready", waits
// for "go" on stdin, starts, and on "stop" (or the end of stdin) stops and
// prints its childReport as JSON.
func runChild(ctx context.Context, o *options) error {
	database, err := withAppName(o.database, fmt.Sprintf("%s%02d", childAppPrefix, o.index))
	if err != nil {
		return err
	}
	st, err := postgres.Open(ctx, database, &postgres.Options{Schema: o.schema, MaxConns: int32(o.maxConns)})
	if err != nil {
		return err
	}
	defer st.Close()
	logs := &logCounter{counts: map[string]int{}, index: o.index}
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[noopArgs]) error { return nil }))
	id := fmt.Sprintf("scale-%02d-%d", o.index, os.Getpid())
	client, err := kiln.NewClient(&kiln.Config{
		Store: st, Workers: workers, ID: id, Logger: slog.New(logs),
		Queues: map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: o.workers}},
	})
	if err != nil {
		return err
	}
	rep := childReport{Index: o.index, ID: id}
	var mu sync.Mutex // guards rep's completion fields
	events, unsubscribe := client.Subscribe(kiln.EventJobCompleted)
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		for range events {
			now := time.Now()
			mu.Lock()
			if rep.Completed == 0 {
				rep.First = now
			}
			rep.Completed++
			rep.Last = now
			mu.Unlock()
		}
	}()

	in := bufio.NewScanner(os.Stdin)
	fmt.Println("ready")
	if !in.Scan() || in.Text() != "go" {
		unsubscribe()
		<-counted
		return errors.New("child: no go from the parent")
	}
	cpu0 := measure.SelfCPU()
	if err := measure.ResetPeakRSS(); err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	for in.Scan() && in.Text() != "stop" {
	}
	rep.CPU = measure.SelfCPU() - cpu0
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := client.Stop(sctx); err != nil {
		rep.StopError = err.Error()
	}
	unsubscribe()
	<-counted
	rep.PeakRSS, _ = measure.PeakRSS()
	rep.Logs = logs.snapshot()
	mu.Lock()
	defer mu.Unlock()
	return json.NewEncoder(os.Stdout).Encode(&rep)
}

// logCounter is a slog.Handler that counts warnings and errors by message
// and prints the first of each error message to stderr.
type logCounter struct {
	index  int
	mu     sync.Mutex
	counts map[string]int
}

func (l *logCounter) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn
}

func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	msg := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" || a.Key == "error" {
			msg += ": " + a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	l.counts[msg]++
	first := l.counts[msg] == 1
	l.mu.Unlock()
	if first && r.Level >= slog.LevelError {
		fmt.Fprintf(os.Stderr, "child %02d: %s\n", l.index, msg)
	}
	return nil
}

func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }

func (l *logCounter) snapshot() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.counts)
}

// child is a running child process.
type child struct {
	index  int
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // its stdout, line by line; closed at its end
	report *childReport
}

func runParent(ctx context.Context, o *options) (err error) {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	// A short schema keeps Kiln's channel names plain ("<schema>.<topic>").
	schema := "kiln_scale_" + hex.EncodeToString(b)
	fmt.Printf("scale: %d processes × %d workers, %d jobs, pool size %s; PostgreSQL %s, schema %s\n",
		o.processes, o.workers, o.jobs, poolSize(o.maxConns), redact(o.database), schema)
	fmt.Printf("  started %s; load average (1 / 5 / 15 min) %s\n", time.Now().UTC().Format(time.RFC3339), measure.LoadAvg3())

	parentURL, err := withAppName(o.database, "kiln-scale-parent")
	if err != nil {
		return err
	}
	st, err := postgres.Open(ctx, parentURL, &postgres.Options{Schema: schema, MaxConns: 2, Migrate: true})
	if err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, measure.DropSchema(ctx, st.Pool(), schema))
		st.Close()
	}()
	enqueuer, err := kiln.NewClient(&kiln.Config{Store: st})
	if err != nil {
		return err
	}

	// The LISTEN connection, on every topic of Kiln's store.
	listener, err := startListener(ctx, o.database, schema, []string{store.TopicInsert, store.TopicCancel})
	if err != nil {
		return err
	}
	defer listener.close()

	// Enqueue.
	began := time.Now()
	for done := 0; done < o.jobs; done += 1000 {
		batch := make([]kiln.EnqueueParams, min(1000, o.jobs-done))
		for i := range batch {
			batch[i] = kiln.EnqueueParams{Args: noopArgs{N: done + i}}
		}
		if _, err := enqueuer.EnqueueMany(ctx, batch); err != nil {
			return err
		}
	}
	took := time.Since(began)
	fmt.Printf("  enqueue: %d jobs in %s (%.0f jobs/s)\n", o.jobs, took.Round(time.Millisecond), float64(o.jobs)/took.Seconds())

	// Children.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	children := make([]*child, o.processes)
	defer func() {
		for _, c := range children {
			if c != nil && c.cmd.ProcessState == nil {
				_ = c.cmd.Process.Kill() // a child this program started, by its PID
				_ = c.cmd.Wait()
			}
		}
	}()
	for i := range children {
		c, err := startChild(exe, o, schema, i)
		if err != nil {
			return err
		}
		children[i] = c
	}
	for _, c := range children {
		select {
		case line, ok := <-c.lines:
			if !ok || line != "ready" {
				return fmt.Errorf("child %02d: got %q, want ready", c.index, line)
			}
		case <-ctx.Done():
			return fmt.Errorf("waiting for the children to be ready: %w", ctx.Err())
		}
	}
	enqueueNotes := listener.take()

	// Go.
	mon, err := startMonitor(ctx, o.database, schema)
	if err != nil {
		return err
	}
	fmt.Printf("  load average before the start %s\n", measure.LoadAvg())
	start := time.Now()
	for _, c := range children {
		if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
			return fmt.Errorf("child %02d: %w", c.index, err)
		}
	}
	if err := waitDrained(ctx, enqueuer, start); err != nil {
		mon.stop()
		return err
	}
	drainedAt := time.Now()
	m := mon.stop()
	drainNotes := listener.take()
	for _, c := range children {
		_, _ = io.WriteString(c.stdin, "stop\n")
		_ = c.stdin.Close()
	}
	var errs []error
	for _, c := range children {
		var last string
		for line := range c.lines {
			last = line
		}
		if werr := c.cmd.Wait(); werr != nil {
			errs = append(errs, fmt.Errorf("child %02d: %w", c.index, werr))
			continue
		}
		var rep childReport
		if jerr := json.Unmarshal([]byte(last), &rep); jerr != nil {
			errs = append(errs, fmt.Errorf("child %02d: last line %q: %w", c.index, last, jerr))
			continue
		}
		c.report = &rep
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	report(o, start, drainedAt, children, m, enqueueNotes, drainNotes)
	return nil
}

func poolSize(n int) string {
	if n == 0 {
		return "Kiln's default"
	}
	return strconv.Itoa(n)
}

func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

// startChild starts child i and reads its stdout line by line.
func startChild(exe string, o *options, schema string, i int) (*child, error) {
	cmd := exec.Command(exe, "--child", "--database", o.database, "--schema", schema,
		"--index", strconv.Itoa(i), "--workers", strconv.Itoa(o.workers), "--max-conns", strconv.Itoa(o.maxConns))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start child %02d: %w", i, err)
	}
	c := &child{index: i, cmd: cmd, stdin: stdin, lines: make(chan string, 4)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c, nil
}

// waitDrained polls the store's counts until no job is available, running,
// retryable or scheduled, printing the progress every 5 s.
func waitDrained(ctx context.Context, c *kiln.Client, start time.Time) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastPrint := time.Now()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the jobs to be done: %w", ctx.Err())
		case <-tick.C:
		}
		counts, err := c.JobCountByState(ctx)
		if err != nil {
			return err
		}
		left := counts[kiln.JobStateAvailable] + counts[kiln.JobStateRunning] + counts[kiln.JobStateRetryable] + counts[kiln.JobStateScheduled]
		if left == 0 {
			return nil
		}
		if time.Since(lastPrint) >= 5*time.Second {
			lastPrint = time.Now()
			fmt.Fprintf(os.Stderr, "scale: %s: %d jobs left, %d completed (load average %s)\n",
				time.Since(start).Round(time.Second), left, counts[kiln.JobStateCompleted], measure.LoadAvg())
		}
	}
}

// listener counts the notifications on Kiln's channels of one schema.
type listener struct {
	conn   *pgx.Conn
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex // guards counts and bytes
	counts map[string]int
	bytes  int
}

// channel is Kiln's channel name for topic in schema (store/postgres:
// "<schema>.<topic>" when that fits in 63 bytes, which the schemas of
// this program do).
func channel(schema, topic string) string { return schema + "." + topic }

func startListener(ctx context.Context, database, schema string, topics []string) (*listener, error) {
	u, err := withAppName(database, "kiln-scale-listen")
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel(schema, t)}.Sanitize()); err != nil {
			conn.Close(ctx)
			return nil, err
		}
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &listener{conn: conn, cancel: cancel, done: make(chan struct{}), counts: map[string]int{}}
	go func() {
		defer close(l.done)
		for {
			n, err := conn.WaitForNotification(lctx)
			if err != nil {
				if lctx.Err() == nil {
					fmt.Fprintf(os.Stderr, "scale: listener: %v\n", err)
				}
				return
			}
			topic := strings.TrimPrefix(n.Channel, schema+".")
			l.mu.Lock()
			l.counts[topic]++
			l.bytes += len(n.Payload)
			l.mu.Unlock()
		}
	}()
	return l, nil
}

// take returns what was counted since the last take and resets it.
func (l *listener) take() string {
	time.Sleep(200 * time.Millisecond) // let notifications in flight arrive
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	var parts []string
	for t, n := range l.counts {
		total += n
		parts = append(parts, fmt.Sprintf("%s %d", t, n))
	}
	sort.Strings(parts)
	s := fmt.Sprintf("%d notifications (%d payload bytes)", total, l.bytes)
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	l.counts, l.bytes = map[string]int{}, 0
	return s
}

func (l *listener) close() {
	l.cancel()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx)
}

// monitor samples, every sampleEvery, the connections of the children and
// the server's, the maintenance leader, and the CPU time of the
// children's database backends.
type monitor struct {
	cancel context.CancelFunc
	done   chan struct{}
	m      *monitored
}

type monitored struct {
	samples      int
	maxChildren  int            // connections of all children at once
	maxPerChild  map[string]int // application_name -> most at once
	maxServer    int            // connections of the whole server at once
	maxConnsSet  int            // max_connections
	leaders      []leaderTerm
	backendCPU   map[int][2]float64 // pid -> CPU seconds at first and last sight
	errors       map[string]int
	sampleErrors int
}

type leaderTerm struct {
	id        string
	electedAt time.Time
	seenAt    time.Time
}

func startMonitor(ctx context.Context, database, schema string) (*monitor, error) {
	u, err := withAppName(database, "kiln-scale-monitor")
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return nil, err
	}
	m := &monitored{maxPerChild: map[string]int{}, backendCPU: map[int][2]float64{}, errors: map[string]int{}}
	if err := conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int`).Scan(&m.maxConnsSet); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	// Backends that exist before the start count from their CPU then;
	// those that start later count from zero.
	if err := m.sampleBackends(ctx, conn, true); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	mon := &monitor{cancel: cancel, done: make(chan struct{}), m: m}
	leaderSQL := `SELECT leader_id, elected_at FROM ` + pgx.Identifier{schema, "kiln_leader"}.Sanitize() + ` WHERE name = 'maintenance'`
	go func() {
		defer close(mon.done)
		defer conn.Close(context.Background())
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			// Not under mctx: a sample cut short would close conn.
			m.sample(context.Background(), conn, leaderSQL)
			select {
			case <-mctx.Done():
				m.sample(context.Background(), conn, leaderSQL) // the last one
				return
			case <-tick.C:
			}
		}
	}()
	return mon, nil
}

// stop takes a last sample and returns what was seen.
func (mon *monitor) stop() *monitored {
	mon.cancel()
	<-mon.done
	return mon.m
}

func (m *monitored) fail(what string, err error) {
	m.sampleErrors++
	m.errors[what+": "+err.Error()]++
}

func (m *monitored) sample(ctx context.Context, conn *pgx.Conn, leaderSQL string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m.samples++
	rows, err := conn.Query(ctx, `SELECT coalesce(application_name, ''), count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' GROUP BY 1`)
	if err != nil {
		m.fail("pg_stat_activity", err)
		return
	}
	total, children := 0, 0
	var name string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error {
		total += n
		if strings.HasPrefix(name, childAppPrefix) {
			children += n
			m.maxPerChild[name] = max(m.maxPerChild[name], n)
		}
		return nil
	})
	if err != nil {
		m.fail("pg_stat_activity", err)
		return
	}
	m.maxServer = max(m.maxServer, total)
	m.maxChildren = max(m.maxChildren, children)

	var id string
	var elected time.Time
	switch err := conn.QueryRow(ctx, leaderSQL).Scan(&id, &elected); {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		m.fail("kiln_leader", err)
	default:
		if l := len(m.leaders); l == 0 || m.leaders[l-1].id != id || !m.leaders[l-1].electedAt.Equal(elected) {
			m.leaders = append(m.leaders, leaderTerm{id: id, electedAt: elected, seenAt: time.Now()})
		}
	}
	if err := m.sampleBackends(ctx, conn, false); err != nil {
		m.fail("backends", err)
	}
}

// sampleBackends reads the CPU time of the children's backends; at the
// baseline, it records each one's CPU as its starting point.
func (m *monitored) sampleBackends(ctx context.Context, conn *pgx.Conn, baseline bool) error {
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1`, childAppPrefix+"%")
	if err != nil {
		return err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return err
	}
	for _, pid := range pids {
		_, cpu, ok := measure.ProcStat(int(pid))
		if !ok {
			continue
		}
		v, seen := m.backendCPU[int(pid)]
		if !seen && baseline {
			v[0] = cpu
		}
		v[1] = cpu
		m.backendCPU[int(pid)] = v
	}
	return nil
}

func report(o *options, start, drainedAt time.Time, children []*child, m *monitored, enqueueNotes, drainNotes string) {
	var last time.Time
	completed := 0
	var perChild []int
	var cpu float64
	var rss []int64
	logs := map[string]int{}
	for _, c := range children {
		r := c.report
		completed += r.Completed
		perChild = append(perChild, r.Completed)
		if r.Last.After(last) {
			last = r.Last
		}
		cpu += r.CPU
		rss = append(rss, r.PeakRSS)
		for k, v := range r.Logs {
			logs[k] += v
		}
		if r.StopError != "" {
			logs["stop: "+r.StopError]++
		}
	}
	slices.Sort(perChild)
	slices.Sort(rss)
	var dbCPU float64
	for _, v := range m.backendCPU {
		dbCPU += v[1] - v[0]
	}
	took := last.Sub(start)
	fmt.Printf("\nResult (load average after %s)\n\n", measure.LoadAvg3())
	fmt.Printf("  throughput: %d jobs in %s from the start signal to the last completion: %.0f jobs/s (drain seen by polling after %s)\n",
		o.jobs, took.Round(time.Millisecond), float64(o.jobs)/took.Seconds(), drainedAt.Sub(start).Round(time.Millisecond))
	fmt.Printf("  completions (events in the children): %d in total (%d more than jobs); per process min / median / max %d / %d / %d\n",
		completed, completed-o.jobs, perChild[0], perChild[len(perChild)/2], perChild[len(perChild)-1])
	perProc := make([]int, 0, len(m.maxPerChild))
	for _, n := range m.maxPerChild {
		perProc = append(perProc, n)
	}
	slices.Sort(perProc)
	if len(perProc) == 0 {
		perProc = []int{0}
	}
	fmt.Printf("  PostgreSQL connections (%d samples, every %s): children at once at most %d; per process at most min / median / max %d / %d / %d; whole server at most %d of max_connections %d\n",
		m.samples, sampleEvery, m.maxChildren, perProc[0], perProc[len(perProc)/2], perProc[len(perProc)-1], m.maxServer, m.maxConnsSet)
	switch len(m.leaders) {
	case 0:
		fmt.Printf("  leader: none seen in kiln_leader\n")
	default:
		fmt.Printf("  leader: %s elected %s after the start; %d change(s)\n", m.leaders[0].id, m.leaders[0].seenAt.Sub(start).Round(time.Millisecond), len(m.leaders)-1)
		for _, t := range m.leaders[1:] {
			fmt.Printf("    %s: %s (elected_at %s)\n", t.seenAt.Sub(start).Round(time.Millisecond), t.id, t.electedAt.Format(time.RFC3339Nano))
		}
	}
	fmt.Printf("  NOTIFY on Kiln's channels: during the enqueue %s; during the drain %s\n", enqueueNotes, drainNotes)
	fmt.Printf("  CPU from the start signal to the drain: children %.1f s (%.1f µs/job), their database backends %.1f s (%.1f µs/job)\n",
		cpu, cpu/float64(o.jobs)*1e6, dbCPU, dbCPU/float64(o.jobs)*1e6)
	fmt.Printf("  peak RSS per child: min / median / max %.1f / %.1f / %.1f MB\n", float64(rss[0])/1e6, float64(rss[len(rss)/2])/1e6, float64(rss[len(rss)-1])/1e6)
	if m.sampleErrors > 0 {
		fmt.Printf("  %d sample errors:\n", m.sampleErrors)
		for k, v := range m.errors {
			fmt.Printf("    %d× %s\n", v, k)
		}
	}
	if len(logs) > 0 {
		keys := make([]string, 0, len(logs))
		for k := range logs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Printf("  children's warnings and errors:\n")
		for _, k := range keys {
			fmt.Printf("    %d× %s\n", logs[k], k)
		}
	}
}
