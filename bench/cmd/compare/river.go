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

func (riverSystem) run(ctx context.Context, o *options, _ int) (_ *result, err error) {
	schema := freshSchema("river_compare_")
	drop, err := createSchema(ctx, o.database, schema)
	if err != nil {
		return nil, err
	}
	defer drop()
	pool, err := riverPool(ctx, o, schema)
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	logs := newQuietLogger()
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: schema, Logger: logs.logger("rivermigrate")})
	if err != nil {
		return nil, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("rivermigrate: %w", err)
	}

	p := newProbe()
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[riverArgs]) error {
		p.started()
		return nil
	}))
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Schema: schema, Workers: workers, Logger: logs.logger("river"), FetchCooldown: o.riverCooldown,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.workers}},
	})
	if err != nil {
		return nil, err
	}
	r := &result{}

	// 1. Bulk enqueue.
	began := time.Now()
	batch := make([]river.InsertManyParams, 0, batchSize)
	for done := 0; done < o.jobs; {
		batch = batch[:0]
		for i := done; i < min(done+batchSize, o.jobs); i++ {
			batch = append(batch, river.InsertManyParams{Args: riverArgs{N: i}})
		}
		if o.riverInsert == "fast" {
			_, err = client.InsertManyFast(ctx, batch)
		} else {
			_, err = client.InsertMany(ctx, batch)
		}
		if err != nil {
			return nil, err
		}
		done += len(batch)
	}
	r.enqueueRate = perSecond(o.jobs, time.Since(began))

	// 2. Burn-down.
	comps := newCompletions()
	events, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{
		Kinds: []river.EventKind{river.EventKindJobCompleted}, ChanSize: 10_000,
	})
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		for ev := range events {
			comps.add(ev.Job.ID)
		}
	}()
	defer func() {
		unsubscribe()
		<-counted
	}()
	cpu := startCPU(pgBackends(ctx, pool))
	began = time.Now()
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err = errors.Join(err, client.Stop(sctx))
	}()
	last, missed, err := comps.waitCount(ctx, o.jobs, func(ctx context.Context) (bool, error) {
		var left int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{schema, "river_job"}.Sanitize()+
			` WHERE state IN ('available', 'running', 'retryable', 'scheduled', 'pending')`).Scan(&left)
		return left == 0, err
	})
	if err != nil {
		return nil, err
	}
	r.burnClientCPU, r.burnServerCPU = cpu.stop()
	r.burnDownRate = perSecond(o.jobs, last.Sub(began))
	if missed > 0 {
		r.notes = append(r.notes, fmt.Sprintf("burn-down: %d completion events dropped; end time from the last one seen", missed))
	}

	// 3. Latency: through the client that runs the workers, then through an
	// insert-only client on a pool of its own (River's LISTEN/NOTIFY wakes
	// the workers' client in both cases).
	if o.samples > 0 {
		comps.track.Store(true)
		enqueueWith := func(c *river.Client[pgx.Tx]) func(ctx context.Context, i int) (func() error, error) {
			return func(ctx context.Context, i int) (func() error, error) {
				res, err := c.Insert(ctx, riverArgs{N: i}, nil)
				if err != nil {
					return nil, err
				}
				return comps.waitFor(ctx, res.Job.ID), nil
			}
		}
		if r.latIn, err = p.measure(ctx, o.samples, enqueueWith(client)); err != nil {
			return nil, fmt.Errorf("in-process latency: %w", err)
		}
		pool2, err := riverPool(ctx, o, schema)
		if err != nil {
			return nil, err
		}
		defer pool2.Close()
		other, err := river.NewClient(riverpgxv5.New(pool2), &river.Config{Schema: schema, Workers: workers, Logger: logs.logger("river-inserter")})
		if err != nil {
			return nil, err
		}
		if r.latCross, err = p.measure(ctx, o.samples, enqueueWith(other)); err != nil {
			return nil, fmt.Errorf("cross-client latency: %w", err)
		}
	}
	r.notes = append(r.notes, logs.notes()...)
	return r, nil
}
