package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

// benchBatch is how many jobs each EnqueueMany call of the bench stores.
const benchBatch = 1000

type benchOptions struct {
	jobs           int
	workers        int
	latencySamples int
}

// benchArgs is the args of the bench's no-op jobs.
type benchArgs struct {
	N int `json:"n"`
}

func (benchArgs) Kind() string { return "bench.noop" }

func newBenchCmd(g *globals) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure enqueue and job throughput, and start latency",
		Long: `bench measures Kiln on this machine with jobs that do nothing
(kind bench.noop), in three phases:

  1. enqueue:   stores --jobs jobs with EnqueueMany, 1000 per transaction,
                before any worker runs, and reports jobs per second;
  2. burn-down: starts a client whose queue has --workers workers and times
                how long it takes to run all those jobs, in jobs per second;
  3. latency:   on the idle client, enqueues --latency-samples jobs one at a
                time, each after the previous one completed, and reports the
                time from just before Enqueue to the job's start: p50, p90,
                p99 and max.

It prints the machine and the parameters with the results. Without
--database it uses a fresh temporary SQLite database, removed afterwards
($` + envDatabase + ` is ignored). With a SQLite --database it uses that file,
which must hold no unfinished jobs. With a postgres:// --database it creates
a fresh schema kiln_bench_<random> in that database, runs there and drops
it at the end, so it never touches existing tables; with kiln_schema in the
URL it uses that schema instead, which must hold no unfinished jobs. A
progress bar shows on stderr when it is a terminal.`,
		Example: `  kiln bench
  kiln bench --jobs 20000 --workers 50 --latency-samples 200
  kiln bench --database 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, g, o) },
	}
	f := cmd.Flags()
	f.IntVar(&o.jobs, "jobs", 100_000, "how many jobs to enqueue and run")
	f.IntVar(&o.workers, "workers", 200, "workers of the queue (1 to 10000)")
	f.IntVar(&o.latencySamples, "latency-samples", 500, "how many single jobs to time for latency (0 skips it)")
	return cmd
}

func runBench(cmd *cobra.Command, g *globals, o *benchOptions) (err error) {
	switch {
	case o.jobs < 1:
		return usageErrorf("--jobs %d: want at least 1", o.jobs)
	case o.workers < 1 || o.workers > 10_000:
		return usageErrorf("--workers %d: want 1 to 10000", o.workers)
	case o.latencySamples < 0:
		return usageErrorf("--latency-samples %d: want 0 or more", o.latencySamples)
	}
	ctx, stop := newStopSignals().notify(cmd.Context())
	defer stop()
	defer func() {
		if err != nil && ctx.Err() != nil {
			err = errors.New("bench interrupted")
		}
	}()

	st, dbShown, idleHint, cleanup, err := openBenchStore(ctx, g)
	if err != nil {
		return err
	}
	defer cleanup()

	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[benchArgs]) error { return nil }))
	client, err := kiln.NewClient(&kiln.Config{
		Store: st, Workers: workers, Logger: g.logger,
		Queues: map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: o.workers}},
	})
	if err != nil {
		return err
	}
	if err := checkIdle(ctx, client, dbShown, idleHint); err != nil {
		return err
	}

	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	fmt.Fprintf(out, "Kiln benchmark\n")
	fmt.Fprintf(out, "  machine:    %d CPUs, %s/%s, %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	fmt.Fprintf(out, "  parameters: --jobs %d --workers %d --latency-samples %d\n", o.jobs, o.workers, o.latencySamples)
	fmt.Fprintf(out, "  database:   %s\n\n", dbShown)

	// 1. Enqueue, with no worker running.
	bar := newProgress(errOut, "enqueue", int64(o.jobs))
	began := time.Now()
	for done := 0; done < o.jobs; {
		n := min(benchBatch, o.jobs-done)
		batch := make([]kiln.EnqueueParams, n)
		for i := range batch {
			batch[i] = kiln.EnqueueParams{Args: benchArgs{N: done + i}}
		}
		if _, err := client.EnqueueMany(ctx, batch); err != nil {
			return err
		}
		done += n
		bar.set(int64(done))
	}
	took := time.Since(began)
	bar.finish()
	fmt.Fprintf(out, "1. enqueue    %s jobs in batches of %d: %s, %s jobs/s\n",
		comma(int64(o.jobs)), benchBatch, fmtDuration(took), rate(o.jobs, took))

	// 2. Burn-down.
	took, dropped, err := burnDown(ctx, client, errOut, o.jobs)
	if err != nil {
		stopClient(client)
		return err
	}
	note := ""
	if dropped > 0 {
		note = fmt.Sprintf(" (%d completion events dropped; end time from the last one seen)", dropped)
	}
	fmt.Fprintf(out, "2. burn-down  %s jobs with %d workers: %s, %s jobs/s%s\n",
		comma(int64(o.jobs)), o.workers, fmtDuration(took), rate(o.jobs, took), note)

	// 3. Latency, on the idle client.
	if o.latencySamples > 0 {
		lat, err := latency(ctx, client, errOut, o.latencySamples)
		if err != nil {
			stopClient(client)
			return err
		}
		fmt.Fprintf(out, "3. latency    enqueue→start of %d single jobs on an idle client: p50 %s, p90 %s, p99 %s, max %s\n",
			len(lat), fmtDuration(percentile(lat, 50)), fmtDuration(percentile(lat, 90)),
			fmtDuration(percentile(lat, 99)), fmtDuration(lat[len(lat)-1]))
	}
	return stopClient(client)
}

// checkIdle returns an error if the database holds unfinished jobs, which
// would skew the figures; hint says how to use a fresh one instead.
func checkIdle(ctx context.Context, client *kiln.Client, db, hint string) error {
	counts, err := client.JobCountByState(ctx)
	if err != nil {
		return err
	}
	unfinished := 0
	for state, n := range counts {
		if !state.Finalized() {
			unfinished += n
		}
	}
	if unfinished > 0 {
		return fmt.Errorf("database %s holds %d unfinished jobs, which would skew the figures; %s", db, unfinished, hint)
	}
	return nil
}

// burnDown starts client and waits until it has completed n bench jobs. It
// counts completion events, and polls the job counts each second in case
// the subscription dropped some. It returns the time from Start to the last
// completion and how many completion events were dropped.
func burnDown(ctx context.Context, client *kiln.Client, errOut io.Writer, n int) (time.Duration, int, error) {
	events, unsubscribe := client.Subscribe(kiln.EventJobCompleted)
	var completed atomic.Int64
	var lastAt atomic.Int64 // UnixNano of the last completion received
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		for ev := range events {
			if ev.Job.Kind == (benchArgs{}).Kind() {
				completed.Add(1)
				lastAt.Store(time.Now().UnixNano())
			}
		}
	}()
	defer func() {
		unsubscribe()
		<-counted
	}()

	bar := newProgress(errOut, "burn-down", int64(n))
	began := time.Now()
	if err := client.Start(ctx); err != nil {
		return 0, 0, err
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
wait:
	for completed.Load() < int64(n) {
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case <-tick.C:
			bar.set(completed.Load())
		case <-poll.C:
			counts, err := client.JobCountByState(ctx)
			if err != nil {
				return 0, 0, err
			}
			if counts[kiln.JobStateAvailable]+counts[kiln.JobStateRunning]+counts[kiln.JobStateRetryable]+counts[kiln.JobStateScheduled] == 0 {
				break wait // every job ran; some events were dropped
			}
		}
	}
	unsubscribe()
	<-counted // every event received is counted
	bar.set(completed.Load())
	bar.finish()
	took := time.Unix(0, lastAt.Load()).Sub(began)
	return took, max(0, n-int(completed.Load())), nil
}

// latency enqueues samples jobs one at a time on the started, idle client,
// each once the previous one completed, and returns the times from just
// before each Enqueue to its job's start event, sorted.
func latency(ctx context.Context, client *kiln.Client, errOut io.Writer, samples int) ([]time.Duration, error) {
	events, unsubscribe := client.Subscribe(kiln.EventJobStarted, kiln.EventJobCompleted)
	defer unsubscribe()
	bar := newProgress(errOut, "latency", int64(samples))
	lat := make([]time.Duration, 0, samples)
	for i := range samples {
		before := time.Now()
		res, err := client.Enqueue(ctx, benchArgs{N: i}, nil)
		if err != nil {
			return nil, err
		}
		id := res.Job.ID
		started, err := waitJobEvent(ctx, events, kiln.EventJobStarted, id)
		if err != nil {
			return nil, err
		}
		// Event times are wall-clock times; so is this Sub.
		lat = append(lat, max(0, started.At.Sub(before)))
		if _, err := waitJobEvent(ctx, events, kiln.EventJobCompleted, id); err != nil {
			return nil, err
		}
		bar.set(int64(i + 1))
	}
	bar.finish()
	slices.Sort(lat)
	return lat, nil
}

// waitJobEvent waits up to 10 s for an event of kind for job id.
func waitJobEvent(ctx context.Context, events <-chan *kiln.Event, kind kiln.EventKind, id int64) (*kiln.Event, error) {
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev := <-events:
			if ev.Kind == kind && ev.Job.ID == id {
				return ev, nil
			}
		case <-timeout.C:
			return nil, fmt.Errorf("bench: no %s event for job %d within 10s", kind, id)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// rate formats n per d as a whole number per second.
func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "∞"
	}
	return comma(int64(math.Round(float64(n) / d.Seconds())))
}

// benchSchemaPrefix starts the name of the temporary schema that bench
// creates in a PostgreSQL database named without kiln_schema.
const benchSchemaPrefix = "kiln_bench_"

// openBenchStore opens the store that bench runs on, migrated:
//
//   - without --database, a new SQLite file in a temporary directory;
//   - with a SQLite --database, that file;
//   - with a postgres:// --database without kiln_schema, a new schema
//     kiln_bench_<random> of that database, created here (an existing schema
//     of that name is an error, never reused) and dropped by cleanup;
//   - with a postgres:// --database with kiln_schema, that schema.
//
// It returns the store, a description of it for the output, the hint that
// checkIdle gives when the store holds unfinished jobs, and cleanup, which
// closes the store and removes what openBenchStore created. The caller
// must call cleanup, after stopping the clients that use the store.
func openBenchStore(ctx context.Context, g *globals) (st store.Store, shown, idleHint string, cleanup func(), err error) {
	if !g.databaseFlag {
		dir, err := os.MkdirTemp("", "kiln-bench-")
		if err != nil {
			return nil, "", "", nil, fmt.Errorf("bench: %w", err)
		}
		path := filepath.Join(dir, "bench.db")
		st, err := openDatabase(ctx, path, createAndMigrate)
		if err != nil {
			os.RemoveAll(dir)
			return nil, "", "", nil, err
		}
		cleanup := func() {
			st.Close()
			os.RemoveAll(dir)
		}
		return st, "SQLite " + path + " (temporary)", "", cleanup, nil
	}
	db, err := parseDatabase(g.database)
	if err != nil {
		return nil, "", "", nil, err
	}
	if db.pgURL == "" || hasSchemaParam(g.database) {
		st, err := openDatabase(ctx, g.database, createAndMigrate)
		if err != nil {
			return nil, "", "", nil, err
		}
		if db.pgURL == "" {
			return st, "SQLite " + db.shown, "omit --database to use a temporary one", func() { st.Close() }, nil
		}
		return st, "PostgreSQL " + db.shown, "omit " + pgSchemaParam + " from the URL to use a temporary schema", func() { st.Close() }, nil
	}

	// A fresh schema: bench never writes to an existing one unless asked to.
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return nil, "", "", nil, fmt.Errorf("bench: %w", err)
	}
	schema := benchSchemaPrefix + hex.EncodeToString(b)
	pg, err := postgres.Open(ctx, db.pgURL, &postgres.Options{Schema: schema, PgBouncer: db.pgBouncer})
	if err != nil {
		return nil, "", "", nil, fmt.Errorf("open database %s: %w", db.shown, err)
	}
	quoted := pgx.Identifier{schema}.Sanitize()
	if _, err := pg.Pool().Exec(ctx, "CREATE SCHEMA "+quoted); err != nil {
		pg.Close()
		return nil, "", "", nil, fmt.Errorf("database %s: create the temporary schema %s: %w", db.shown, schema, err)
	}
	cleanup = func() {
		// The schema goes also when ctx was cancelled (an interrupt).
		dropCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, err := pg.Pool().Exec(dropCtx, "DROP SCHEMA "+quoted+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "kiln bench: could not drop the temporary schema %s of %s: %v\n", schema, db.shown, err)
		}
		pg.Close()
	}
	if err := pg.Migrate(ctx); err != nil {
		cleanup()
		return nil, "", "", nil, fmt.Errorf("database %s: %w", db.shown, err)
	}
	return pg, "PostgreSQL " + db.shown + " (schema " + schema + ", temporary)", "", cleanup, nil
}

// hasSchemaParam reports whether the PostgreSQL URL value has the
// kiln_schema query parameter.
func hasSchemaParam(value string) bool {
	u, err := url.Parse(value)
	return err == nil && u.Query().Has(pgSchemaParam)
}
