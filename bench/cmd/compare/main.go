// Command compare runs the same three workloads on Kiln, River and Asynq,
// alternately, on one machine, one PostgreSQL database and one Redis, and
// prints each figure and Kiln's ratio to the others.
//
// For each system and round, on a fresh schema (PostgreSQL: a new schema,
// dropped afterwards; Redis: database --redis-db, flushed):
//
//  1. bulk enqueue: --jobs no-op jobs while no worker runs, in batches of
//     1000 (Kiln EnqueueMany, River InsertMany, or InsertManyFast with
//     --river-insert fast); Asynq has no batch API, so it enqueues one
//     task per call from --asynq-enqueuers goroutines;
//  2. burn-down: starts the workers (--workers on one queue) and times
//     them until the last of those jobs completed;
//  3. latency: on the idle system, --samples single jobs, one at a time,
//     each once the previous one completed, timed from just before the
//     enqueue call to the start of the worker function: first enqueued
//     through the client that runs the workers ("in-process"), then
//     through a second client with a connection pool of its own
//     ("cross-client"). Asynq's client is always separate from its
//     server, so it has only the cross-client figure.
//
// Each system runs with its defaults except the worker count, the pool
// size (--max-conns, the same for Kiln and River) and quiet logging
// (errors go to stderr; warnings are counted and listed under each round).
// --river-fetch-cooldown sets River's FetchCooldown, whose default (100
// ms) caps a River client at about --workers × 10 jobs per second.
//
// It also reports the CPU time that this process and the database server
// (the PostgreSQL backends of the benchmark's connections, found by
// application_name; or redis-server) spent during each burn-down. For
// Kiln, --kiln-cpuprofile writes a CPU profile of one phase of the first
// round, and --kiln-trace times its store calls (claims, finishes, ...).
//
//	cd bench && go run ./cmd/compare --jobs 100000 --rounds 2
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// batchSize is how many jobs each bulk enqueue call stores.
const batchSize = 1000

// waitTimeout bounds each wait for one job in the latency phases.
const waitTimeout = 30 * time.Second

type options struct {
	database        string
	redisAddr       string
	redisDB         int
	jobs            int
	workers         int
	samples         int
	rounds          int
	maxConns        int
	systems         []string
	riverInsert     string
	asynqEnqueuers  int
	kilnCPUProfile  string
	kilnProfilePart string
	kilnTrace       bool
	riverCooldown   time.Duration
}

// system is one job system under test.
type system interface {
	name() string
	// run measures the three workloads on a fresh schema and cleans up.
	run(ctx context.Context, o *options, round int) (*result, error)
}

// result is one system's figures in one round.
type result struct {
	enqueueRate  float64 // jobs/s
	burnDownRate float64 // jobs/s
	// latencies, sorted; nil when the system has no such path.
	latIn, latCross []time.Duration
	// CPU seconds spent during the burn-down by this process and by the
	// database servers (PostgreSQL backends, or redis-server).
	burnClientCPU, burnServerCPU float64
	notes                        []string
}

func main() {
	o := &options{}
	var systems string
	flag.StringVar(&o.database, "database", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL database URL; each run uses a new schema of it, dropped afterwards")
	flag.StringVar(&o.redisAddr, "redis", "127.0.0.1:6379", "Redis address for Asynq")
	flag.IntVar(&o.redisDB, "redis-db", 15, "Redis database for Asynq; FLUSHED before each run")
	flag.IntVar(&o.jobs, "jobs", 100_000, "jobs to enqueue and burn down")
	flag.IntVar(&o.workers, "workers", 200, "workers (River MaxWorkers, Asynq Concurrency, Kiln MaxWorkers) on one queue")
	flag.IntVar(&o.samples, "samples", 500, "single jobs timed for each latency figure (0 skips latency)")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds; each runs every system once, in turn")
	flag.IntVar(&o.maxConns, "max-conns", 0, "PostgreSQL pool size of Kiln and River (0: pgxpool's default, max(4, CPUs))")
	flag.StringVar(&systems, "systems", "kiln,river,asynq", "systems to run, in this order each round")
	flag.StringVar(&o.riverInsert, "river-insert", "many", "River's bulk insert: many (InsertMany, returns the rows, like Kiln's EnqueueMany) or fast (InsertManyFast, COPY)")
	flag.IntVar(&o.asynqEnqueuers, "asynq-enqueuers", 50, "goroutines enqueuing concurrently for Asynq's bulk enqueue")
	flag.StringVar(&o.kilnCPUProfile, "kiln-cpuprofile", "", "write a CPU profile of this process during Kiln's first-round phase --kiln-profile-phase to this file")
	flag.StringVar(&o.kilnProfilePart, "kiln-profile-phase", "burn-down", "phase that --kiln-cpuprofile covers: enqueue, burn-down or latency")
	flag.DurationVar(&o.riverCooldown, "river-fetch-cooldown", 0, "River's FetchCooldown (0: River's default, 100ms, which caps a client's fetches at 10 per second)")
	flag.BoolVar(&o.kilnTrace, "kiln-trace", false, "time Kiln's store calls (claim, finish, ...) and print them per phase; keeps the store's notifications (LISTEN/NOTIFY) and hides its other optional interfaces, unused here")
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected arguments: %q", flag.Args())
	}
	switch {
	case o.jobs < 1, o.workers < 1, o.samples < 0, o.rounds < 1, o.asynqEnqueuers < 1:
		fatalf("--jobs, --workers, --rounds and --asynq-enqueuers must be at least 1, --samples at least 0")
	case o.riverInsert != "many" && o.riverInsert != "fast":
		fatalf("--river-insert %q: want many or fast", o.riverInsert)
	case !slices.Contains([]string{"enqueue", "burn-down", "latency"}, o.kilnProfilePart):
		fatalf("--kiln-profile-phase %q: want enqueue, burn-down or latency", o.kilnProfilePart)
	}
	all := map[string]system{"kiln": kilnSystem{}, "river": riverSystem{}, "asynq": asynqSystem{}}
	var order []system
	for _, s := range strings.Split(systems, ",") {
		sys, ok := all[strings.TrimSpace(s)]
		if !ok {
			fatalf("--systems: unknown system %q (want kiln, river, asynq)", s)
		}
		order = append(order, sys)
		o.systems = append(o.systems, sys.name())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Printf("compare: %d CPUs, %s/%s, %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Printf("  --jobs %d --workers %d --samples %d --rounds %d --max-conns %d --river-insert %s --river-fetch-cooldown %s --asynq-enqueuers %d\n",
		o.jobs, o.workers, o.samples, o.rounds, o.maxConns, o.riverInsert, o.riverCooldown, o.asynqEnqueuers)
	fmt.Printf("  systems: %s; PostgreSQL %s; Redis %s db %d\n\n", strings.Join(o.systems, ", "), redact(o.database), o.redisAddr, o.redisDB)

	results := make([]map[string]*result, o.rounds)
	for round := range o.rounds {
		results[round] = map[string]*result{}
		for _, sys := range order {
			load := loadAvg()
			fmt.Fprintf(os.Stderr, "round %d: %s (load average %s)\n", round+1, sys.name(), load)
			began := time.Now()
			r, err := sys.run(ctx, o, round)
			if err != nil {
				fatalf("round %d, %s: %v", round+1, sys.name(), err)
			}
			results[round][sys.name()] = r
			r.notes = append(r.notes, fmt.Sprintf("took %s; load average %s before, %s after", time.Since(began).Round(time.Second), load, loadAvg()))
		}
		fmt.Printf("Round %d\n\n", round+1)
		printTable(os.Stdout, o, []map[string]*result{results[round]})
		fmt.Println()
		for _, name := range o.systems {
			for _, n := range results[round][name].notes {
				fmt.Printf("  %s: %s\n", name, n)
			}
		}
		fmt.Println()
	}
	if o.rounds > 1 {
		fmt.Printf("Mean of %d rounds (latency percentiles over all samples of all rounds)\n\n", o.rounds)
		printTable(os.Stdout, o, results)
		fmt.Println()
	}
	fmt.Println("ratio = kiln ÷ other: above 1 is Kiln faster for jobs/s, Kiln slower for latency.")
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compare: "+format+"\n", args...)
	os.Exit(1)
}

// printTable prints the figures of the rounds given: rates are their mean,
// latency percentiles are over the samples of all of them.
func printTable(w io.Writer, o *options, rounds []map[string]*result) {
	type row struct {
		figure string
		value  func(r *result) (float64, bool)
		format func(float64) string
	}
	rate := func(f func(*result) float64) func(*result) (float64, bool) {
		return func(r *result) (float64, bool) { return f(r), true }
	}
	pct := func(lat func(*result) []time.Duration, p float64) func(*result) (float64, bool) {
		return func(r *result) (float64, bool) {
			l := lat(r)
			if l == nil {
				return 0, false
			}
			return float64(percentile(l, p)), true
		}
	}
	fmtRate := func(v float64) string { return comma(int64(v+0.5)) + "/s" }
	fmtDur := func(v float64) string { return fmtDuration(time.Duration(v)) }
	fmtCPU := func(v float64) string { return fmt.Sprintf("%.1f s", v) }
	in := func(r *result) []time.Duration { return r.latIn }
	cross := func(r *result) []time.Duration { return r.latCross }
	rows := []row{
		{"bulk enqueue (jobs/s)", rate(func(r *result) float64 { return r.enqueueRate }), fmtRate},
		{"burn-down (jobs/s)", rate(func(r *result) float64 { return r.burnDownRate }), fmtRate},
	}
	if o.samples > 0 {
		rows = append(rows,
			row{"latency in-process p50", pct(in, 50), fmtDur},
			row{"latency in-process p99", pct(in, 99), fmtDur},
			row{"latency cross-client p50", pct(cross, 50), fmtDur},
			row{"latency cross-client p99", pct(cross, 99), fmtDur},
		)
	}
	rows = append(rows,
		row{"burn-down CPU, this process", rate(func(r *result) float64 { return r.burnClientCPU }), fmtCPU},
		row{"burn-down CPU, db server", rate(func(r *result) float64 { return r.burnServerCPU }), fmtCPU},
	)

	// merged folds the rounds into one result per system.
	merged := map[string]*result{}
	for _, name := range o.systems {
		m := &result{}
		n := 0
		for _, rs := range rounds {
			r := rs[name]
			if r == nil {
				continue
			}
			n++
			m.enqueueRate += r.enqueueRate
			m.burnDownRate += r.burnDownRate
			m.burnClientCPU += r.burnClientCPU
			m.burnServerCPU += r.burnServerCPU
			if r.latIn != nil {
				m.latIn = append(m.latIn, r.latIn...)
			}
			if r.latCross != nil {
				m.latCross = append(m.latCross, r.latCross...)
			}
		}
		if n == 0 {
			continue
		}
		m.enqueueRate /= float64(n)
		m.burnDownRate /= float64(n)
		m.burnClientCPU /= float64(n)
		m.burnServerCPU /= float64(n)
		slices.Sort(m.latIn)
		slices.Sort(m.latCross)
		merged[name] = m
	}

	header := []string{"figure"}
	header = append(header, o.systems...)
	var others []string
	if merged["kiln"] != nil {
		for _, name := range o.systems {
			if name != "kiln" {
				others = append(others, name)
				header = append(header, "kiln/"+name)
			}
		}
	}
	table := [][]string{header}
	for _, rw := range rows {
		line := []string{rw.figure}
		vals := map[string]float64{}
		for _, name := range o.systems {
			r := merged[name]
			v, ok := 0.0, false
			if r != nil {
				v, ok = rw.value(r)
			}
			if !ok {
				line = append(line, "—")
				continue
			}
			vals[name] = v
			line = append(line, rw.format(v))
		}
		for _, name := range others {
			k, ok1 := vals["kiln"]
			v, ok2 := vals[name]
			if !ok1 || !ok2 || v == 0 || strings.HasPrefix(rw.figure, "burn-down CPU") {
				line = append(line, "—")
				continue
			}
			line = append(line, fmt.Sprintf("%.2f", k/v))
		}
		table = append(table, line)
	}
	printMarkdown(w, table)
}

// printMarkdown prints table as a Markdown table with aligned columns.
func printMarkdown(w io.Writer, table [][]string) {
	widths := make([]int, len(table[0]))
	for _, line := range table {
		for i, c := range line {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	cell := func(i int, c string) string {
		pad := strings.Repeat(" ", widths[i]-len([]rune(c)))
		if i == 0 {
			return c + pad
		}
		return pad + c
	}
	for n, line := range table {
		cells := make([]string, len(line))
		for i, c := range line {
			cells[i] = cell(i, c)
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		if n == 0 {
			seps := make([]string, len(line))
			for i := range line {
				seps[i] = strings.Repeat("-", widths[i]+2)
				if i > 0 {
					seps[i] = seps[i][:widths[i]+1] + ":"
				}
			}
			fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
		}
	}
}

// probe reports the start of the worker function to the latency phases.
type probe struct {
	on atomic.Bool
	ch chan time.Time
}

func newProbe() *probe { return &probe{ch: make(chan time.Time, 1)} }

// started is called first by every worker function.
func (p *probe) started() {
	if p.on.Load() {
		select {
		case p.ch <- time.Now():
		default:
		}
	}
}

// measure times samples single jobs: enqueue enqueues job i and returns a
// function that waits until it completed; the time is from just before
// enqueue to the worker's start. It returns the times sorted.
func (p *probe) measure(ctx context.Context, samples int, enqueue func(ctx context.Context, i int) (wait func() error, err error)) ([]time.Duration, error) {
	p.on.Store(true)
	defer p.on.Store(false)
	lat := make([]time.Duration, 0, samples)
	for i := range samples {
		select { // drop a stale start
		case <-p.ch:
		default:
		}
		before := time.Now()
		wait, err := enqueue(ctx, i)
		if err != nil {
			return nil, err
		}
		select {
		case at := <-p.ch:
			lat = append(lat, at.Sub(before))
		case <-time.After(waitTimeout):
			return nil, fmt.Errorf("latency sample %d: the job did not start within %s", i, waitTimeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := wait(); err != nil {
			return nil, fmt.Errorf("latency sample %d: %w", i, err)
		}
	}
	slices.Sort(lat)
	return lat, nil
}

// completions counts completion events and remembers when the last one
// arrived; while tracking, it also remembers which jobs completed.
type completions struct {
	n      atomic.Int64
	lastAt atomic.Int64 // UnixNano

	track   atomic.Bool
	mu      sync.Mutex
	done    map[int64]bool
	waiters map[int64]chan struct{}
}

func newCompletions() *completions {
	return &completions{done: map[int64]bool{}, waiters: map[int64]chan struct{}{}}
}

// add records the completion of job id.
func (c *completions) add(id int64) {
	c.n.Add(1)
	c.lastAt.Store(time.Now().UnixNano())
	if !c.track.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.waiters[id]; ok {
		close(ch)
		delete(c.waiters, id)
		return
	}
	c.done[id] = true
}

// waitFor returns a function that waits up to waitTimeout for the
// completion of job id. Tracking must be on since before id was enqueued.
func (c *completions) waitFor(ctx context.Context, id int64) func() error {
	return func() error {
		c.mu.Lock()
		if c.done[id] {
			delete(c.done, id)
			c.mu.Unlock()
			return nil
		}
		ch := make(chan struct{})
		c.waiters[id] = ch
		c.mu.Unlock()
		select {
		case <-ch:
			return nil
		case <-time.After(waitTimeout):
			return fmt.Errorf("job %d did not complete within %s", id, waitTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitCount waits until n completions were counted, or until done reports
// that none is left (some events were dropped), polling it each second.
// It returns the time of the last completion counted and how many events
// were missed.
func (c *completions) waitCount(ctx context.Context, n int, done func(context.Context) (bool, error)) (time.Time, int, error) {
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for c.n.Load() < int64(n) {
		select {
		case <-ctx.Done():
			return time.Time{}, 0, ctx.Err()
		case <-tick.C:
		case <-poll.C:
			ok, err := done(ctx)
			if err != nil {
				return time.Time{}, 0, err
			}
			if ok {
				return time.Unix(0, c.lastAt.Load()), n - int(c.n.Load()), nil
			}
		}
	}
	return time.Unix(0, c.lastAt.Load()), 0, nil
}

// withProfile runs fn under a CPU profile written to path if on.
func withProfile(on bool, path string, fn func() error) error {
	if !on || path == "" {
		return fn()
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	err = fn()
	pprof.StopCPUProfile()
	return errors.Join(err, f.Close())
}

// quietLogger logs errors to stderr and counts warnings by message.
type quietLogger struct {
	mu       sync.Mutex
	warnings map[string]int
}

func newQuietLogger() *quietLogger { return &quietLogger{warnings: map[string]int{}} }

func (q *quietLogger) logger(system string) *slog.Logger {
	return slog.New(&countingHandler{q: q, next: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}).WithAttrs([]slog.Attr{slog.String("system", system)})})
}

// notes describes the warnings counted.
func (q *quietLogger) notes() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for msg, n := range q.warnings {
		out = append(out, fmt.Sprintf("%d warnings %q", n, msg))
	}
	slices.Sort(out)
	return out
}

type countingHandler struct {
	q    *quietLogger
	next slog.Handler
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelError {
		h.q.mu.Lock()
		h.q.warnings[r.Message]++
		h.q.mu.Unlock()
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingHandler{q: h.q, next: h.next.WithAttrs(as)}
}

func (h *countingHandler) WithGroup(name string) slog.Handler {
	return &countingHandler{q: h.q, next: h.next.WithGroup(name)}
}
