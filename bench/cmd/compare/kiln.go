package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

type kilnArgs struct {
	N int `json:"n"`
}

func (kilnArgs) Kind() string { return "bench.noop" }

// kilnWorker completes its jobs at once, telling probe, with rate as its
// kind's rate limit (--kiln-rate-limit; zero: none) and partitionLimit as
// its per-key limit (--kiln-partition-limit; 0: none).
type kilnWorker struct {
	kiln.WorkerDefaults[kilnArgs]
	probe          *probe
	rate           kiln.RateLimit
	partitionLimit int
}

func (w kilnWorker) Work(context.Context, *kiln.Job[kilnArgs]) error {
	w.probe.started()
	return nil
}

func (w kilnWorker) RateLimit() kiln.RateLimit { return w.rate }

func (w kilnWorker) PartitionMaxConcurrency() int { return w.partitionLimit }

type kilnSystem struct{}

func (kilnSystem) name() string { return "kiln" }

// kilnRig is one Kiln client with a worker on a fresh schema, and its
// completion events counted.
type kilnRig struct {
	schema   string
	database string // with application_name
	st       *postgres.Store
	client   *kiln.Client
	probe    *probe
	comps    *completions
	traced   *tracedStore // nil without --kiln-trace
	keys     int          // partition keys of the jobs (--kiln-partition-keys; 0: none)
	logs     *quietLogger
	closers  []func() error // run in reverse order by close
}

// openKiln migrates a fresh schema and makes a client on it whose queue
// has --workers workers, with its completions counted; close undoes it.
func openKiln(ctx context.Context, o *options) (_ *kilnRig, err error) {
	k := &kilnRig{schema: freshSchema("kiln_compare_"), probe: newProbe(), comps: newCompletions(), logs: newQuietLogger(),
		keys: o.kilnPartitionKeys}
	defer func() {
		if err != nil {
			err = errors.Join(err, k.close(ctx))
		}
	}()
	if k.database, err = withAppName(o.database); err != nil {
		return k, err
	}
	k.st, err = postgres.Open(ctx, k.database, &postgres.Options{Schema: k.schema, MaxConns: int32(o.maxConns), Migrate: true})
	if err != nil {
		return k, err
	}
	k.closers = append(k.closers, func() error {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, err := k.st.Pool().Exec(dctx, `DROP SCHEMA "`+k.schema+`" CASCADE`)
		k.st.Close()
		if err != nil {
			return fmt.Errorf("drop schema %s: %w", k.schema, err)
		}
		return nil
	})

	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kilnWorker{probe: k.probe, rate: o.kilnRateLimit, partitionLimit: o.kilnPartitionLimit})
	var kst store.Store = k.st
	if o.kilnTrace {
		k.traced = newTracedStore(k.st)
		kst = k.traced.asStore()
	}
	if !kst.NotificationsAvailable() {
		return k, errors.New("the store given to the Kiln client sends no notifications (store.Notifier): enqueues from another client would wait for a poll")
	}
	k.client, err = kiln.NewClient(&kiln.Config{
		Store: kst, Workers: workers, Logger: k.logs.logger("kiln"),
		Queues: map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: o.workers}},
	})
	if err != nil {
		return k, err
	}
	events, unsubscribe := k.client.Subscribe(kiln.EventJobCompleted)
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		for ev := range events {
			k.comps.add(ev.Job.ID)
		}
	}()
	k.closers = append(k.closers, func() error {
		unsubscribe()
		<-counted
		return nil
	})
	return k, nil
}

// start starts the client's workers.
func (k *kilnRig) start(ctx context.Context) error {
	if err := k.client.Start(ctx); err != nil {
		return err
	}
	k.closers = append(k.closers, func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return k.client.Stop(sctx)
	})
	return nil
}

// snapshotCounts returns the counters that --kiln-statements compares
// (nil without it).
func (k *kilnRig) snapshotCounts(ctx context.Context, o *options) (*phaseCounts, error) {
	if !o.kilnStatements {
		return nil, nil
	}
	return snapshotCounts(ctx, k.st.Pool())
}

// reportCounts adds to r's notes what ran since before, per sample
// (nothing without --kiln-statements).
func (k *kilnRig) reportCounts(ctx context.Context, o *options, r *result, phase string, before *phaseCounts) error {
	if before == nil {
		return nil
	}
	after, err := snapshotCounts(ctx, k.st.Pool())
	if err != nil {
		return err
	}
	r.notes = append(r.notes, countsReport(phase, o.samples, before, after)...)
	return nil
}

// close stops the client, ends the subscription and drops the schema.
func (k *kilnRig) close(context.Context) error {
	var errs []error
	for i := len(k.closers) - 1; i >= 0; i-- {
		errs = append(errs, k.closers[i]())
	}
	k.closers = nil
	return errors.Join(errs...)
}

// enqueue stores n jobs, {"n": first} onwards, with EnqueueMany; with
// partition keys, job i has the key i modulo their number.
func (k *kilnRig) enqueue(ctx context.Context, first, n int) error {
	batch := make([]kiln.EnqueueParams, n)
	for i := range batch {
		batch[i] = kiln.EnqueueParams{Args: kilnArgs{N: first + i}}
		if k.keys > 0 {
			batch[i].Opts = &kiln.EnqueueOpts{Partition: strconv.Itoa((first + i) % k.keys)}
		}
	}
	_, err := k.client.EnqueueMany(ctx, batch)
	return err
}

// count returns how many jobs are in state, from the store's counters.
func (k *kilnRig) count(ctx context.Context, state kiln.JobState) (int, error) {
	counts, err := k.client.JobCountByState(ctx)
	if err != nil {
		return 0, err
	}
	return counts[state], nil
}

// tracePhase adds the trace of the phase that took wall to r's notes.
func (k *kilnRig) tracePhase(r *result, phase string, wall time.Duration) {
	if k.traced != nil {
		r.notes = append(r.notes, k.traced.report(phase, wall)...)
	}
}

func (kilnSystem) run(ctx context.Context, o *options, round int) (_ *result, err error) {
	k, err := openKiln(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, k.close(ctx)) }()
	profile := func(phase string) bool { return round == 0 && o.kilnProfilePart == phase }
	r := &result{jobs: o.jobs}

	// 1. Bulk enqueue.
	err = withProfile(profile("enqueue"), o.kilnCPUProfile, func() error {
		began := time.Now()
		for done := 0; done < o.jobs; done += batchSize {
			if err := k.enqueue(ctx, done, min(batchSize, o.jobs-done)); err != nil {
				return err
			}
		}
		took := time.Since(began)
		r.enqueueRate = perSecond(o.jobs, took)
		k.tracePhase(r, "enqueue", took)
		return nil
	})
	if err != nil {
		return nil, err
	}

	// 2. Burn-down.
	err = withProfile(profile("burn-down"), o.kilnCPUProfile, func() error {
		b := startBurnDown(r, pgBackends(ctx, k.st.Pool()))
		if err := k.start(ctx); err != nil {
			return err
		}
		last, missed, err := k.comps.waitCount(ctx, o.jobs, func(ctx context.Context) (bool, error) {
			counts, err := k.client.JobCountByState(ctx)
			if err != nil {
				return false, err
			}
			left := counts[kiln.JobStateAvailable] + counts[kiln.JobStateRunning] + counts[kiln.JobStateRetryable] + counts[kiln.JobStateScheduled]
			return left == 0, nil
		})
		if err != nil {
			return err
		}
		b.stop(last)
		k.tracePhase(r, "burn-down", last.Sub(b.began))
		if missed > 0 {
			r.notes = append(r.notes, fmt.Sprintf("burn-down: %d completion events dropped; end time from the last one seen", missed))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// 3. Latency: through the client that runs the workers, whose enqueues
	// wake its producer at once; then through an enqueue-only client on a
	// pool of its own: its inserts send a notification (pg_notify, in the
	// insert's transaction), which the notifier of the client that runs the
	// workers receives (LISTEN) and turns into a wake of its producer. The
	// enqueue-only client runs no queue, so it listens to nothing.
	if o.samples > 0 {
		k.comps.track.Store(true)
		var (
			seen   *sampleClaims
			traces []sampleTrace
		)
		pool := k.st.Pool()
		enqueueWith := func(c *kiln.Client) func(ctx context.Context, i int) (func() error, error) {
			seen = &sampleClaims{}
			traces = nil
			if k.traced != nil {
				k.traced.takeLog()
				k.traced.logging.Store(true)
				k.probe.onStart = func(i int, at time.Time) {
					st := &traces[i]
					st.started, st.gc1, st.wait1 = at, gcCycles(), pool.Stat().EmptyAcquireCount()
				}
			}
			return func(ctx context.Context, i int) (func() error, error) {
				var st sampleTrace
				if k.traced != nil {
					seen.begin(k.traced)
					st.t0, st.gc0, st.wait0 = time.Now(), gcCycles(), pool.Stat().EmptyAcquireCount()
				}
				res, err := c.Enqueue(ctx, kilnArgs{N: i}, nil)
				if err != nil {
					return nil, err
				}
				if k.traced != nil {
					seen.enqueued(k.traced)
					st.t1, st.id = time.Now(), res.Job.ID
					traces = append(traces, st)
				}
				return k.comps.waitFor(ctx, res.Job.ID), nil
			}
		}
		causes := func(phase string) []string {
			if k.traced == nil {
				return nil
			}
			k.traced.logging.Store(false)
			k.probe.onStart = nil
			events, notices := k.traced.takeLog()
			return causesReport(phase, traces, events, notices)
		}
		err = withProfile(profile("latency"), o.kilnCPUProfile, func() error {
			before, err := k.snapshotCounts(ctx, o)
			if err != nil {
				return err
			}
			began := time.Now()
			r.latIn, err = k.probe.measure(ctx, o.samples, enqueueWith(k.client))
			k.tracePhase(r, "in-process latency", time.Since(began))
			if err != nil {
				return err
			}
			if k.traced != nil {
				r.notes = append(r.notes, seen.report("in-process latency", k.traced, k.probe.last)...)
			}
			r.notes = append(r.notes, causes("in-process latency")...)
			return k.reportCounts(ctx, o, r, "in-process latency", before)
		})
		if err != nil {
			return nil, fmt.Errorf("in-process latency: %w", err)
		}
		st2, err := postgres.Open(ctx, k.database, &postgres.Options{Schema: k.schema, MaxConns: int32(o.maxConns)})
		if err != nil {
			return nil, err
		}
		defer st2.Close()
		other, err := kiln.NewClient(&kiln.Config{Store: st2, Logger: k.logs.logger("kiln-enqueuer")})
		if err != nil {
			return nil, err
		}
		before, err := k.snapshotCounts(ctx, o)
		if err != nil {
			return nil, err
		}
		r.latCross, err = k.probe.measure(ctx, o.samples, enqueueWith(other))
		if err != nil {
			return nil, fmt.Errorf("cross-client latency: %w", err)
		}
		if k.traced != nil {
			r.notes = append(r.notes, seen.report("cross-client latency", k.traced, k.probe.last)...)
		}
		r.notes = append(r.notes, causes("cross-client latency")...)
		if err := k.reportCounts(ctx, o, r, "cross-client latency", before); err != nil {
			return nil, err
		}
	}
	r.notes = append(r.notes, k.logs.notes()...)
	return r, nil
}

func (kilnSystem) continuous(ctx context.Context, o *options, round int) (_ *result, err error) {
	k, err := openKiln(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, k.close(ctx)) }()
	var r *result
	err = withProfile(round == 0 && o.kilnProfilePart == "continuous", o.kilnCPUProfile, func() (err error) {
		r, err = runContinuous(ctx, o, &contRig{
			insert: k.enqueue,
			start:  k.start,
			available: func(ctx context.Context) (int, error) {
				return k.count(ctx, kiln.JobStateAvailable)
			},
			completed: func(ctx context.Context) (int, error) {
				return k.count(ctx, kiln.JobStateCompleted)
			},
			events:  k.comps,
			servers: pgBackends(ctx, k.st.Pool()),
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	k.tracePhase(r, "continuous", o.duration)
	r.notes = append(r.notes, k.logs.notes()...)
	return r, nil
}
