// Command compare runs the same workloads on Kiln, River, Asynq and the
// raw-SQL floor, alternately, on one machine, one PostgreSQL database and
// one Redis, and prints each figure and Kiln's ratio to the others.
//
// For each system and round, on a fresh schema (PostgreSQL: a new schema,
// dropped afterwards; Redis: database --redis-db, flushed):
//
//  1. bulk enqueue: --jobs no-op jobs while no worker runs, in batches of
//     1000 (Kiln EnqueueMany, River InsertMany, or InsertManyFast with
//     --river-insert fast, the floor one INSERT ... FROM unnest); Asynq
//     has no batch API, so it enqueues one task per call from
//     --asynq-enqueuers goroutines;
//  2. burn-down: starts the workers (--workers on one queue) and times
//     them until the last of those jobs completed;
//  3. latency: on the idle system, --samples single jobs, one at a time,
//     each once the previous one completed, timed from just before the
//     enqueue call to the start of the worker function: first enqueued
//     through the client that runs the workers ("in-process"), then
//     through a second client with a connection pool of its own
//     ("cross-client"). Asynq's client is always separate from its
//     server, so it has only the cross-client figure; the floor has none.
//
// With --duration, each turn instead runs the continuous mode (as `river
// bench --duration`): jobs are inserted until --backlog wait, the workers
// start, and for --duration one inserter tops the backlog up to
// --backlog every 250 ms, in batches of 1000; it reports the completed
// jobs per second, per third of the window, and the queue length at the
// start, the middle and the end (kiln, river and floor only).
//
// The floor (--systems ...,floor; package internal/floor) is the same
// batched SQL that any PostgreSQL job queue must run per job, with no
// engine: insert in batches, claim in batches with FOR UPDATE SKIP
// LOCKED, mark completed in one batched UPDATE; no attempts table, no
// triggers, one partial index. Its workers are --workers goroutines fed
// by a fetch loop, its completions batched, on a pool of --max-conns.
//
// Each system runs with its defaults except the worker count, the pool
// size (--max-conns, the same for Kiln, River and the floor) and quiet
// logging (errors go to stderr; warnings are counted and listed under each
// round). --river-fetch-cooldown and --river-poll-interval set River's
// FetchCooldown and FetchPollInterval; its defaults (100 ms, 1 s) cap a
// River client at about --workers × 10 jobs per second. A River tuned for
// throughput, as River's own benchmark is: --river-fetch-cooldown 1ms
// --river-poll-interval 20ms.
//
// It also reports the CPU time that this process and the database server
// (the PostgreSQL backends of the benchmark's connections, found by
// application_name; or redis-server) spent during each burn-down, per job,
// and the peak RSS of this process during the burn-down (VmHWM, reset
// before it starts; all systems run in this one process, so run
// --systems kiln alone for Kiln's own figure). After the rounds it prints,
// for each ratio kiln/other, the min / median / max over the rounds, and
// the load average before each turn. For Kiln, --kiln-cpuprofile writes a
// CPU profile of one phase of the first round, and --kiln-trace times its
// store calls (claims, finishes, ...).
//
//	cd bench && go run ./cmd/compare --jobs 100000 --rounds 3 --systems kiln,river,floor \
//	    --river-fetch-cooldown 1ms --river-poll-interval 20ms
//	go run ./cmd/compare --systems kiln,river,floor --duration 30s --rounds 3 \
//	    --river-fetch-cooldown 1ms --river-poll-interval 20ms
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

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/bench/internal/measure"
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
	// kilnStatements prints the statements (pg_stat_statements) and pool
	// acquires of each Kiln latency phase, per sample.
	kilnStatements bool
	riverCooldown  time.Duration
	// kilnRateLimit is the rate limit of Kiln's job kind (zero: none).
	kilnRateLimit kiln.RateLimit
	// kilnPartitionKeys spreads Kiln's jobs over this many partition keys
	// (0: none), kilnPartitionLimit is its kind's per-key limit
	// (PartitionMaxConcurrency; 0: none).
	kilnPartitionKeys, kilnPartitionLimit int
	// riverPollInterval is River's FetchPollInterval (0: River's default).
	riverPollInterval time.Duration
	// duration selects the continuous mode when above 0: its window.
	duration time.Duration
	// backlog is the continuous mode's target of jobs inserted and not
	// completed.
	backlog int
	// floorClaimMax bounds one claim of the floor (0: --workers);
	// floorPollInterval is its fetch loop's poll.
	floorClaimMax     int
	floorPollInterval time.Duration
}

// system is one job system under test.
type system interface {
	name() string
	// run measures the three workloads on a fresh schema and cleans up.
	run(ctx context.Context, o *options, round int) (*result, error)
	// continuous runs the continuous mode (--duration) on a fresh schema
	// and cleans up.
	continuous(ctx context.Context, o *options, round int) (*result, error)
}

// result is one system's figures in one round. In the continuous mode,
// burnDownRate and the CPU times are those of the window, jobs the jobs
// completed in it.
type result struct {
	jobs         int     // jobs burnt down
	enqueueRate  float64 // jobs/s
	burnDownRate float64 // jobs/s
	// latencies, sorted; nil when the system has no such path.
	latIn, latCross []time.Duration
	// CPU seconds spent during the burn-down by this process and by the
	// database servers (PostgreSQL backends, or redis-server).
	burnClientCPU, burnServerCPU float64
	// peakRSS is this process's peak resident set during the burn-down,
	// in bytes (0: not measured).
	peakRSS int64
	// The continuous mode's figures: the rate in each third of the window
	// (jobs/s), the available jobs at its start, middle and end, and the
	// jobs inserted during it.
	thirds   [3]float64
	queue    [3]int
	inserted int
	// load is the load average before the turn.
	load  string
	notes []string
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
	flag.IntVar(&o.maxConns, "max-conns", 0, "PostgreSQL pool size of Kiln and River (0: each one's default: Kiln's postgres.DefaultMaxConns, 1, plus its LISTEN connection; River's pgxpool default, max(4, CPUs))")
	flag.StringVar(&systems, "systems", "kiln,river,asynq", "systems to run, in this order each round")
	flag.StringVar(&o.riverInsert, "river-insert", "many", "River's bulk insert: many (InsertMany, returns the rows, like Kiln's EnqueueMany) or fast (InsertManyFast, COPY)")
	flag.IntVar(&o.asynqEnqueuers, "asynq-enqueuers", 50, "goroutines enqueuing concurrently for Asynq's bulk enqueue")
	flag.StringVar(&o.kilnCPUProfile, "kiln-cpuprofile", "", "write a CPU profile of this process during Kiln's first-round phase --kiln-profile-phase to this file")
	flag.StringVar(&o.kilnProfilePart, "kiln-profile-phase", "burn-down", "phase that --kiln-cpuprofile covers: enqueue, burn-down or latency; with --duration, continuous (the backlog's insert, then the window)")
	flag.DurationVar(&o.riverCooldown, "river-fetch-cooldown", 0, "River's FetchCooldown (0: River's default, 100ms, which caps a client's fetches at 10 per second)")
	flag.DurationVar(&o.riverPollInterval, "river-poll-interval", 0, "River's FetchPollInterval (0: River's default, 1s)")
	flag.DurationVar(&o.duration, "duration", 0, "run the continuous mode for this long instead of enqueue, burn-down and latency (kiln, river, floor)")
	flag.IntVar(&o.backlog, "backlog", 75_000, "continuous mode: jobs inserted and not completed that the inserter keeps (River's benchmark: 75,000)")
	flag.IntVar(&o.floorClaimMax, "floor-claim-max", 0, "the floor's jobs per claim at most (0: --workers)")
	flag.DurationVar(&o.floorPollInterval, "floor-poll-interval", 20*time.Millisecond, "the floor's poll after a claim that found fewer jobs than it asked for")
	flag.IntVar(&o.kilnRateLimit.Limit, "kiln-rate-limit", 0, "rate limit Kiln's job kind to this many jobs per second, with a burst of as many (0: no limit); set it above the burn-down's rate to measure what the limit costs when it does not bind")
	flag.IntVar(&o.kilnPartitionKeys, "kiln-partition-keys", 0, "give Kiln's jobs partition keys, job i the key i modulo this (0: no key)")
	flag.IntVar(&o.kilnPartitionLimit, "kiln-partition-limit", 0, "cap Kiln's running jobs per partition key at this many, in every process (PartitionMaxConcurrency; 0: no limit); needs --kiln-partition-keys")
	flag.BoolVar(&o.kilnTrace, "kiln-trace", false, "time Kiln's store calls (claim, finish, ...) and print them per phase, and, per latency phase, how many claims each sample saw and the latency of the samples whose enqueue returned while a claim was in flight; keeps the store's notifications (LISTEN/NOTIFY) and hides its other optional interfaces, unused here")
	flag.BoolVar(&o.kilnStatements, "kiln-statements", false, "print, per latency sample, the statements that ran in the database (pg_stat_statements: it must be loaded and created in the database, and nothing else should use the database) and the acquires of Kiln's pool in each Kiln latency phase")
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected arguments: %q", flag.Args())
	}
	if o.kilnRateLimit.Limit > 0 {
		o.kilnRateLimit.Period, o.kilnRateLimit.Burst = time.Second, o.kilnRateLimit.Limit
	}
	switch {
	case o.jobs < 1, o.workers < 1, o.samples < 0, o.rounds < 1, o.asynqEnqueuers < 1:
		fatalf("--jobs, --workers, --rounds and --asynq-enqueuers must be at least 1, --samples at least 0")
	case o.duration < 0, o.duration > 0 && o.duration < 3*time.Second:
		fatalf("--duration %s: want 0 (burn-down) or at least 3s", o.duration)
	case o.backlog < batchSize:
		fatalf("--backlog %d: want at least %d", o.backlog, batchSize)
	case o.kilnPartitionKeys < 0, o.kilnPartitionLimit < 0, o.kilnPartitionLimit > 0 && o.kilnPartitionKeys == 0:
		fatalf("--kiln-partition-keys and --kiln-partition-limit must be at least 0, and a limit needs keys")
	case o.floorClaimMax < 0, o.floorPollInterval <= 0:
		fatalf("--floor-claim-max must be at least 0 and --floor-poll-interval above 0")
	case o.riverInsert != "many" && o.riverInsert != "fast":
		fatalf("--river-insert %q: want many or fast", o.riverInsert)
	case !slices.Contains([]string{"enqueue", "burn-down", "latency", "continuous"}, o.kilnProfilePart):
		fatalf("--kiln-profile-phase %q: want enqueue, burn-down, latency or continuous", o.kilnProfilePart)
	}
	all := map[string]system{"kiln": kilnSystem{}, "river": riverSystem{}, "asynq": asynqSystem{}, "floor": floorSystem{}}
	var order []system
	for _, s := range strings.Split(systems, ",") {
		sys, ok := all[strings.TrimSpace(s)]
		if !ok {
			fatalf("--systems: unknown system %q (want kiln, river, asynq, floor)", s)
		}
		if slices.Contains(o.systems, sys.name()) {
			fatalf("--systems: %s given twice", sys.name())
		}
		if o.duration > 0 && sys.name() == "asynq" {
			fatalf("--duration: the continuous mode runs kiln, river and floor, not asynq")
		}
		order = append(order, sys)
		o.systems = append(o.systems, sys.name())
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Printf("compare: %d CPUs, %s/%s, %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	if o.duration > 0 {
		fmt.Printf("  continuous mode: --duration %s --backlog %d --workers %d --rounds %d --max-conns %d\n", o.duration, o.backlog, o.workers, o.rounds, o.maxConns)
	} else {
		fmt.Printf("  --jobs %d --workers %d --samples %d --rounds %d --max-conns %d --river-insert %s --asynq-enqueuers %d\n",
			o.jobs, o.workers, o.samples, o.rounds, o.maxConns, o.riverInsert, o.asynqEnqueuers)
	}
	fmt.Printf("  --river-fetch-cooldown %s --river-poll-interval %s --floor-claim-max %d --floor-poll-interval %s\n",
		o.riverCooldown, o.riverPollInterval, o.floorClaimMax, o.floorPollInterval)
	fmt.Printf("  systems: %s; PostgreSQL %s; Redis %s db %d\n", strings.Join(o.systems, ", "), redact(o.database), o.redisAddr, o.redisDB)
	fmt.Printf("  started %s; load average (1 / 5 / 15 min) %s\n\n", time.Now().UTC().Format(time.RFC3339), measure.LoadAvg3())

	results := make([]map[string]*result, o.rounds)
	for round := range o.rounds {
		results[round] = map[string]*result{}
		for _, sys := range order {
			load := measure.LoadAvg()
			fmt.Fprintf(os.Stderr, "round %d: %s (load average %s)\n", round+1, sys.name(), load)
			began := time.Now()
			run := sys.run
			if o.duration > 0 {
				run = sys.continuous
			}
			r, err := run(ctx, o, round)
			if err != nil {
				fatalf("round %d, %s: %v", round+1, sys.name(), err)
			}
			r.load = load
			results[round][sys.name()] = r
			r.notes = append(r.notes, fmt.Sprintf("took %s; load average %s before, %s after", time.Since(began).Round(time.Second), load, measure.LoadAvg()))
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
	printSummary(os.Stdout, o, results)
	fmt.Printf("\nratio = kiln ÷ other: above 1 is Kiln faster for jobs/s, Kiln slower for latency, Kiln using more for CPU and RSS.\n")
	fmt.Printf("finished %s; load average (1 / 5 / 15 min) %s\n", time.Now().UTC().Format(time.RFC3339), measure.LoadAvg3())
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compare: "+format+"\n", args...)
	os.Exit(1)
}

// printTable prints the figures of the rounds given: rates, CPU times
// and queue lengths are their mean, latency percentiles are over the
// samples of all of them, the peak RSS is the highest.
func printTable(w io.Writer, o *options, rounds []map[string]*result) {
	type row struct {
		figure string
		value  func(r *result) (float64, bool)
		format func(float64) string
		ratio  bool // print kiln ÷ other
	}
	val := func(f func(*result) float64) func(*result) (float64, bool) {
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
	perJob := func(f func(*result) float64) func(*result) (float64, bool) {
		return func(r *result) (float64, bool) {
			if r.jobs == 0 {
				return 0, false
			}
			return f(r) / float64(r.jobs) * 1e6, true
		}
	}
	fmtRate := func(v float64) string { return comma(int64(v+0.5)) + "/s" }
	fmtCount := func(v float64) string { return comma(int64(v + 0.5)) }
	fmtDur := func(v float64) string { return fmtDuration(time.Duration(v)) }
	fmtCPU := func(v float64) string { return fmt.Sprintf("%.1f s", v) }
	fmtMicros := func(v float64) string { return fmt.Sprintf("%.1f µs", v) }
	fmtMB := func(v float64) string { return fmt.Sprintf("%.1f MB", v/1e6) }
	in := func(r *result) []time.Duration { return r.latIn }
	cross := func(r *result) []time.Duration { return r.latCross }
	client := func(r *result) float64 { return r.burnClientCPU }
	server := func(r *result) float64 { return r.burnServerCPU }
	total := func(r *result) float64 { return r.burnClientCPU + r.burnServerCPU }
	var rows []row
	phase := "burn-down"
	if o.duration > 0 {
		phase = "window"
		rows = append(rows,
			row{"completed (jobs/s)", val(func(r *result) float64 { return r.burnDownRate }), fmtRate, true},
			row{"completed, first third", val(func(r *result) float64 { return r.thirds[0] }), fmtRate, true},
			row{"completed, middle third", val(func(r *result) float64 { return r.thirds[1] }), fmtRate, true},
			row{"completed, last third", val(func(r *result) float64 { return r.thirds[2] }), fmtRate, true},
			row{"queue length at start", val(func(r *result) float64 { return float64(r.queue[0]) }), fmtCount, false},
			row{"queue length at middle", val(func(r *result) float64 { return float64(r.queue[1]) }), fmtCount, false},
			row{"queue length at end", val(func(r *result) float64 { return float64(r.queue[2]) }), fmtCount, false},
			row{"jobs inserted in window", val(func(r *result) float64 { return float64(r.inserted) }), fmtCount, false},
		)
	} else {
		rows = append(rows,
			row{"bulk enqueue (jobs/s)", val(func(r *result) float64 { return r.enqueueRate }), fmtRate, true},
			row{"burn-down (jobs/s)", val(func(r *result) float64 { return r.burnDownRate }), fmtRate, true},
		)
		if o.samples > 0 {
			rows = append(rows,
				row{"latency in-process p50", pct(in, 50), fmtDur, true},
				row{"latency in-process p99", pct(in, 99), fmtDur, true},
				row{"latency cross-client p50", pct(cross, 50), fmtDur, true},
				row{"latency cross-client p99", pct(cross, 99), fmtDur, true},
			)
		}
	}
	rows = append(rows,
		row{phase + " CPU, this process", val(client), fmtCPU, false},
		row{phase + " CPU, db server", val(server), fmtCPU, false},
		row{"CPU per job, this process", perJob(client), fmtMicros, true},
		row{"CPU per job, db server", perJob(server), fmtMicros, true},
		row{"CPU per job, total", perJob(total), fmtMicros, true},
	)
	if o.duration == 0 {
		rows = append(rows, row{"peak RSS in burn-down", func(r *result) (float64, bool) {
			return float64(r.peakRSS), r.peakRSS > 0
		}, fmtMB, true})
	}

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
			m.jobs += r.jobs
			m.enqueueRate += r.enqueueRate
			m.burnDownRate += r.burnDownRate
			m.burnClientCPU += r.burnClientCPU
			m.burnServerCPU += r.burnServerCPU
			m.peakRSS = max(m.peakRSS, r.peakRSS)
			m.inserted += r.inserted
			for i := range 3 {
				m.thirds[i] += r.thirds[i]
				m.queue[i] += r.queue[i]
			}
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
		m.jobs /= n
		m.enqueueRate /= float64(n)
		m.burnDownRate /= float64(n)
		m.burnClientCPU /= float64(n)
		m.burnServerCPU /= float64(n)
		m.inserted /= n
		for i := range 3 {
			m.thirds[i] /= float64(n)
			m.queue[i] /= n
		}
		slices.Sort(m.latIn)
		slices.Sort(m.latCross)
		merged[name] = m
	}

	header := []string{"figure"}
	header = append(header, o.systems...)
	others := ratioOthers(o)
	for _, name := range others {
		header = append(header, "kiln/"+name)
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
			if !rw.ratio || !ok1 || !ok2 || v == 0 {
				line = append(line, "—")
				continue
			}
			line = append(line, fmt.Sprintf("%.2f", k/v))
		}
		table = append(table, line)
	}
	printMarkdown(w, table)
}

// ratioOthers returns the systems that Kiln is compared with: every other
// system run, if Kiln runs.
func ratioOthers(o *options) []string {
	if !slices.Contains(o.systems, "kiln") {
		return nil
	}
	var others []string
	for _, name := range o.systems {
		if name != "kiln" {
			others = append(others, name)
		}
	}
	return others
}

// printSummary prints, over the rounds, the min / median / max of each
// system's throughput (burn-down, or completed in the continuous mode)
// and CPU per job, of each ratio kiln/other taken round by round, and the
// load average before each turn.
func printSummary(w io.Writer, o *options, results []map[string]*result) {
	what := "burn-down"
	if o.duration > 0 {
		what = "continuous, completed"
	}
	fmt.Fprintf(w, "Over %d round(s): min / median / max, and each round in turn\n\n", len(results))
	table := [][]string{{"figure", "min", "median", "max", "rounds"}}
	add := func(figure string, vals []float64, format func(float64) string) {
		if len(vals) == 0 {
			return
		}
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		each := make([]string, len(vals))
		for i, v := range vals {
			each[i] = format(v)
		}
		table = append(table, []string{figure, format(sorted[0]), format(median(sorted)), format(sorted[len(sorted)-1]), strings.Join(each, ", ")})
	}
	rate := func(v float64) string { return comma(int64(v + 0.5)) }
	ratio := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	micros := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	for _, name := range o.systems {
		var vals []float64
		for _, rs := range results {
			vals = append(vals, rs[name].burnDownRate)
		}
		add(name+" "+what+" (jobs/s)", vals, rate)
	}
	for _, name := range ratioOthers(o) {
		var vals []float64
		for _, rs := range results {
			if v := rs[name].burnDownRate; v > 0 {
				vals = append(vals, rs["kiln"].burnDownRate/v)
			}
		}
		add("kiln/"+name+" "+what, vals, ratio)
	}
	for _, name := range o.systems {
		var proc, db, total []float64
		for _, rs := range results {
			r := rs[name]
			if r.jobs == 0 {
				continue
			}
			proc = append(proc, r.burnClientCPU/float64(r.jobs)*1e6)
			db = append(db, r.burnServerCPU/float64(r.jobs)*1e6)
			total = append(total, (r.burnClientCPU+r.burnServerCPU)/float64(r.jobs)*1e6)
		}
		add(name+" CPU/job, process (µs)", proc, micros)
		add(name+" CPU/job, database (µs)", db, micros)
		add(name+" CPU/job, total (µs)", total, micros)
	}
	printMarkdown(w, table)
	fmt.Fprintf(w, "\nLoad average (1 min) before each turn:\n")
	for i, rs := range results {
		var parts []string
		for _, name := range o.systems {
			parts = append(parts, name+" "+rs[name].load)
		}
		fmt.Fprintf(w, "  round %d: %s\n", i+1, strings.Join(parts, ", "))
	}
}

// median returns the median of sorted, which is not empty.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
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
	// last holds the times of the last measure, in sample order.
	last []time.Duration
	// onStart (optional) is called with sample i's start as soon as the
	// measure sees it.
	onStart func(i int, at time.Time)
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
			if p.onStart != nil {
				p.onStart(i, at)
			}
		case <-time.After(waitTimeout):
			return nil, fmt.Errorf("latency sample %d: the job did not start within %s", i, waitTimeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := wait(); err != nil {
			return nil, fmt.Errorf("latency sample %d: %w", i, err)
		}
	}
	p.last = slices.Clone(lat)
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

// addN records n completions whose jobs are not told (the floor's).
func (c *completions) addN(n int) {
	c.n.Add(int64(n))
	c.lastAt.Store(time.Now().UnixNano())
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
		msg := r.Message
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" || a.Key == "error" {
				msg += ": " + a.Value.String()
			}
			return true
		})
		h.q.mu.Lock()
		h.q.warnings[msg]++
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
