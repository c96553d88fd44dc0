package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

type riverArgs struct {
	N int `json:"n"`
}

func (riverArgs) Kind() string { return "bench_noop" }

type riverSystem struct{}

func (riverSystem) name() string { return "river" }

// riverPool opens a pool whose connections have search_path set to schema,
// as riverpgxv5.New asks, besides River's own Schema option.
func riverPool(ctx context.Context, o *options, schema string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(o.database)
	if err != nil {
		return nil, err
	}
	if o.maxConns > 0 {
		cfg.MaxConns = int32(o.maxConns)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	cfg.ConnConfig.RuntimeParams["application_name"] = appName
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// riverRig is one River client with a worker on a fresh schema, and its
// completion events counted.
type riverRig struct {
	schema  string
	pool    *pgxpool.Pool
	workers *river.Workers
	client  *river.Client[pgx.Tx]
	probe   *probe
	comps   *completions
	logs    *quietLogger
	closers []func() error // run in reverse order by close
}

// openRiver migrates a fresh schema and makes a client on it whose queue
// has --workers workers, with --river-fetch-cooldown and
// --river-poll-interval, with its completions counted; close undoes it.
func openRiver(ctx context.Context, o *options) (_ *riverRig, err error) {
	rv := &riverRig{schema: freshSchema("river_compare_"), probe: newProbe(), comps: newCompletions(), logs: newQuietLogger()}
	defer func() {
		if err != nil {
			err = errors.Join(err, rv.close())
		}
	}()
	drop, err := createSchema(ctx, o.database, rv.schema)
	if err != nil {
		return rv, err
	}
	rv.closers = append(rv.closers, func() error { drop(); return nil })
	if rv.pool, err = riverPool(ctx, o, rv.schema); err != nil {
		return rv, err
	}
	rv.closers = append(rv.closers, func() error { rv.pool.Close(); return nil })

	migrator, err := rivermigrate.New(riverpgxv5.New(rv.pool), &rivermigrate.Config{Schema: rv.schema, Logger: rv.logs.logger("rivermigrate")})
	if err != nil {
		return rv, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return rv, fmt.Errorf("rivermigrate: %w", err)
	}

	rv.workers = river.NewWorkers()
	river.AddWorker(rv.workers, river.WorkFunc(func(context.Context, *river.Job[riverArgs]) error {
		rv.probe.started()
		return nil
	}))
	rv.client, err = river.NewClient(riverpgxv5.New(rv.pool), &river.Config{
		Schema: rv.schema, Workers: rv.workers, Logger: rv.logs.logger("river"),
		FetchCooldown: o.riverCooldown, FetchPollInterval: o.riverPollInterval,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.workers}},
	})
	if err != nil {
		return rv, err
	}
	events, unsubscribe := rv.client.SubscribeConfig(&river.SubscribeConfig{
		Kinds: []river.EventKind{river.EventKindJobCompleted}, ChanSize: 10_000,
	})
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		for ev := range events {
			rv.comps.add(ev.Job.ID)
		}
	}()
	rv.closers = append(rv.closers, func() error {
		unsubscribe()
		<-counted
		return nil
	})
	return rv, nil
}

// start starts the client's workers.
func (rv *riverRig) start(ctx context.Context) error {
	if err := rv.client.Start(ctx); err != nil {
		return err
	}
	rv.closers = append(rv.closers, func() error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return rv.client.Stop(sctx)
	})
	return nil
}

// close stops the client, ends the subscription and drops the schema.
func (rv *riverRig) close() error {
	var errs []error
	for i := len(rv.closers) - 1; i >= 0; i-- {
		errs = append(errs, rv.closers[i]())
	}
	rv.closers = nil
	return errors.Join(errs...)
}

// insert stores n jobs, {"n": first} onwards, with InsertMany (or
// InsertManyFast with --river-insert fast).
func (rv *riverRig) insert(ctx context.Context, o *options, first, n int) error {
	batch := make([]river.InsertManyParams, n)
	for i := range batch {
		batch[i] = river.InsertManyParams{Args: riverArgs{N: first + i}}
	}
	var err error
	if o.riverInsert == "fast" {
		_, err = rv.client.InsertManyFast(ctx, batch)
	} else {
		_, err = rv.client.InsertMany(ctx, batch)
	}
	return err
}

// count returns how many jobs of the schema are in one of states.
func (rv *riverRig) count(ctx context.Context, states ...string) (int, error) {
	var n int
	err := rv.pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{rv.schema, "river_job"}.Sanitize()+
		` WHERE state = ANY($1::text[]::river_job_state[])`, states).Scan(&n)
	return n, err
}

func (riverSystem) run(ctx context.Context, o *options, _ int) (_ *result, err error) {
	rv, err := openRiver(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, rv.close()) }()
	r := &result{jobs: o.jobs}

	// 1. Bulk enqueue.
	began := time.Now()
	for done := 0; done < o.jobs; done += batchSize {
		if err := rv.insert(ctx, o, done, min(batchSize, o.jobs-done)); err != nil {
			return nil, err
		}
	}
	r.enqueueRate = perSecond(o.jobs, time.Since(began))

	// 2. Burn-down.
	b := startBurnDown(r, pgBackends(ctx, rv.pool))
	if err := rv.start(ctx); err != nil {
		return nil, err
	}
	last, missed, err := rv.comps.waitCount(ctx, o.jobs, func(ctx context.Context) (bool, error) {
		left, err := rv.count(ctx, "available", "running", "retryable", "scheduled", "pending")
		return left == 0, err
	})
	if err != nil {
		return nil, err
	}
	b.stop(last)
	if missed > 0 {
		r.notes = append(r.notes, fmt.Sprintf("burn-down: %d completion events dropped; end time from the last one seen", missed))
	}

	// 3. Latency: through the client that runs the workers, then through an
	// insert-only client on a pool of its own (River's LISTEN/NOTIFY wakes
	// the workers' client in both cases).
	if o.samples > 0 {
		rv.comps.track.Store(true)
		enqueueWith := func(c *river.Client[pgx.Tx]) func(ctx context.Context, i int) (func() error, error) {
			return func(ctx context.Context, i int) (func() error, error) {
				res, err := c.Insert(ctx, riverArgs{N: i}, nil)
				if err != nil {
					return nil, err
				}
				return rv.comps.waitFor(ctx, res.Job.ID), nil
			}
		}
		if r.latIn, err = rv.probe.measure(ctx, o.samples, enqueueWith(rv.client)); err != nil {
			return nil, fmt.Errorf("in-process latency: %w", err)
		}
		pool2, err := riverPool(ctx, o, rv.schema)
		if err != nil {
			return nil, err
		}
		defer pool2.Close()
		other, err := river.NewClient(riverpgxv5.New(pool2), &river.Config{Schema: rv.schema, Workers: rv.workers, Logger: rv.logs.logger("river-inserter")})
		if err != nil {
			return nil, err
		}
		if r.latCross, err = rv.probe.measure(ctx, o.samples, enqueueWith(other)); err != nil {
			return nil, fmt.Errorf("cross-client latency: %w", err)
		}
	}
	r.notes = append(r.notes, rv.logs.notes()...)
	return r, nil
}

func (riverSystem) continuous(ctx context.Context, o *options, _ int) (_ *result, err error) {
	rv, err := openRiver(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, rv.close()) }()
	r, err := runContinuous(ctx, o, &contRig{
		insert: func(ctx context.Context, first, n int) error { return rv.insert(ctx, o, first, n) },
		start:  rv.start,
		available: func(ctx context.Context) (int, error) {
			return rv.count(ctx, "available")
		},
		completed: func(ctx context.Context) (int, error) {
			return rv.count(ctx, "completed")
		},
		events:  rv.comps,
		servers: pgBackends(ctx, rv.pool),
	})
	if err != nil {
		return nil, err
	}
	r.notes = append(r.notes, rv.logs.notes()...)
	return r, nil
}
